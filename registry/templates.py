"""Pipeline templates in the registry: a named pipeline spec (and layout) to start from."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from registry.errors import NotFoundError, did_you_mean
from registry.models import TemplateBase, TemplatePublic, TemplateRecord, utcnow
from registry.versions import search_filter

__all__ = ["TemplateStore"]


class TemplateStore:
    """Template operations; mixed into :class:`registry.Registry` (needs ``self.engine``)."""

    engine: Engine

    def save_template(self, template: TemplateBase) -> TemplatePublic:
        """Add a template, or replace the one of the same name (templates are starting points, not history)."""
        with Session(self.engine) as session:
            record = session.get(TemplateRecord, template.name)
            if record is None:
                record = TemplateRecord.model_validate(template.model_dump())
            else:
                for key, value in template.model_dump().items():
                    setattr(record, key, value)
                record.created_at = utcnow()
            session.add(record)
            session.commit()
            session.refresh(record)
            return TemplatePublic.model_validate(record)

    def get_template(self, name: str) -> TemplatePublic:
        """One template by name; unknown names raise NotFoundError with a suggestion."""
        with Session(self.engine) as session:
            record = session.get(TemplateRecord, name)
            if record is None:
                known = list(session.exec(select(TemplateRecord.name)).all())
                raise NotFoundError(f"template '{name}' not found.{did_you_mean(name, known)}")
            return TemplatePublic.model_validate(record)

    def list_templates(self, search: str | None = None) -> list[TemplatePublic]:
        """Every template by name, optionally only those whose name/description contains ``search``."""
        with Session(self.engine) as session:
            records = session.exec(select(TemplateRecord).order_by(TemplateRecord.name)).all()
            templates = [TemplatePublic.model_validate(r) for r in records]
        return search_filter(templates, search)

    def remove_template(self, name: str) -> None:
        """Delete a template."""
        with Session(self.engine) as session:
            record = session.get(TemplateRecord, name)
            if record is None:
                raise NotFoundError(f"template '{name}' not found.")
            session.delete(record)
            session.commit()

