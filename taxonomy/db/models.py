"""SQLAlchemy 2.0 ORM models. The schema is created and changed only by the Alembic migrations in
``migrations/``; a test checks that these models and the migrations agree."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, list[str]: JSON}


class Batch(Base):
    """One ingested input file."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)  #: the path as given
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: sha256 of the batch's content (values with weights and counts, records), independent of row order
    content_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    shape: Mapped[str] = mapped_column(String(16))  #: "aggregated" or "records"
    file_format: Mapped[str] = mapped_column(String(16))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)  #: column mapping and normalisation options
    n_rows: Mapped[int] = mapped_column(Integer)
    n_values: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Value(Base):
    """A distinct normalized value string."""

    __tablename__ = "value_strings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(500), unique=True)


class ValueAlias(Base):
    """A surface form of a value as it appeared in an input file."""

    __tablename__ = "value_aliases"
    __table_args__ = (UniqueConstraint("value_id", "surface"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value_id: Mapped[int] = mapped_column(ForeignKey("value_strings.id", ondelete="CASCADE"), index=True)
    surface: Mapped[str] = mapped_column(String(1000))
    n_rows: Mapped[int] = mapped_column(Integer, default=0)


class BatchValue(Base):
    """What one batch contributed to one value. A value's totals are the sums over batches."""

    __tablename__ = "batch_values"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True)
    value_id: Mapped[int] = mapped_column(ForeignKey("value_strings.id", ondelete="CASCADE"), primary_key=True, index=True)
    weight: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer)
    n_conversations: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ExtractionRecord(Base):
    """One (conversation, value) extraction, from a records-shaped input."""

    __tablename__ = "extraction_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    #: indexed as the first column of (value_id, conversation_id), conversation_id as that of (conversation_id,
    #: role): no index of their own (migration 0006 dropped the two, which only repeated those prefixes)
    value_id: Mapped[int] = mapped_column(ForeignKey("value_strings.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    conversation_id: Mapped[str] = mapped_column(String(200))
    surface: Mapped[str] = mapped_column(String(1000))
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    task: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    excerpt: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: free slice columns ingested with ``--slice-col NAME``: {name: value} (None when none were ingested)
    slices: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: ``--explicit-col``: whether the value was stated explicitly (None when unknown)
    explicit: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    __table_args__ = (
        Index("ix_extraction_records_value_conversation", "value_id", "conversation_id"),
        Index("ix_extraction_records_conversation_role", "conversation_id", "role"),
    )


class Version(Base):
    """An immutable taxonomy version."""

    __tablename__ = "versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    message: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))  #: "build", later "edit", "review", ...
    n_levels: Mapped[int] = mapped_column(Integer)
    checksum: Mapped[str] = mapped_column(String(64))  #: content checksum of the tree
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)

    nodes: Mapped[list[Node]] = relationship(back_populates="version", passive_deletes=True)


class Node(Base):
    """A cluster node (level >= 1) of one version. ``uid`` is the node's stable id."""

    __tablename__ = "nodes"
    __table_args__ = (
        UniqueConstraint("version_id", "uid"),
        Index("ix_nodes_version_level", "version_id", "level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(200), index=True)
    level: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"), nullable=True, index=True)
    member_count: Mapped[int] = mapped_column(Integer)
    weight: Mapped[float] = mapped_column(Float)
    pct_total_occurrences: Mapped[float] = mapped_column(Float)

    version: Mapped[Version] = relationship(back_populates="nodes")


class Membership(Base):
    """A value's place in one version: its level-1 node and the weight it had when the version was written."""

    __tablename__ = "memberships"

    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True)
    value_id: Mapped[int] = mapped_column(ForeignKey("value_strings.id"), primary_key=True, index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    weight: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer)


class TombstoneRow(Base):
    """A node retired (merged away, deleted, split) in this version's lineage; copied forward into every later
    version so that any old id resolves in any later version."""

    __tablename__ = "tombstones"
    __table_args__ = (UniqueConstraint("version_id", "uid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"), index=True)
    uid: Mapped[str] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(String(16))
    replaced_by: Mapped[list[str]] = mapped_column(JSON)
    retired_in: Mapped[int] = mapped_column(Integer)  #: the version in which the node stopped existing


class ChangeSet(Base):
    """The operations that turned a base version into a new version, with who, when and from where."""

    __tablename__ = "change_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    base_version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"), unique=True)
    author: Mapped[str | None] = mapped_column(String(200), nullable=True)
    source: Mapped[dict[str, Any]] = mapped_column(JSON)  #: {"kind": "cli" | "api" | "label-studio", ...}
    operations: Mapped[list[Any]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Branch(Base):
    """A named pointer to a version. Advancing it is a compare-and-swap: exactly one of two concurrent
    advances from the same head succeeds."""

    __tablename__ = "branches"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    head_version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ------------------------------------------------------------------------------------------ language-model cache
class LLMResponse(Base):
    """A language-model response, cached by (model, prompt hash): re-running a build costs nothing."""

    __tablename__ = "llm_responses"
    __table_args__ = (UniqueConstraint("model", "prompt_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    prompt_hash: Mapped[str] = mapped_column(String(64))
    prompt: Mapped[str] = mapped_column(Text)  #: the full request, as JSON
    response: Mapped[str] = mapped_column(Text)
    input_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ------------------------------------------------------------------------------------------ review in Label Studio
class ReviewBatch(Base):
    """Nodes of one version pushed to a Label Studio project for review."""

    __tablename__ = "review_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(500))  #: Label Studio base URL (never a token)
    project_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="pushed")
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewTask(Base):
    """One Label Studio task: one node of the batch's version."""

    __tablename__ = "review_tasks"
    __table_args__ = (UniqueConstraint("batch_id", "node_uid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("review_batches.id", ondelete="CASCADE"), index=True)
    node_uid: Mapped[str] = mapped_column(String(200))
    ls_task_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewAnnotation(Base):
    """An annotation pulled from Label Studio, and what became of it."""

    __tablename__ = "review_annotations"
    __table_args__ = (UniqueConstraint("task_id", "ls_annotation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("review_tasks.id", ondelete="CASCADE"), index=True)
    ls_annotation_id: Mapped[int] = mapped_column(Integer)
    annotator: Mapped[str | None] = mapped_column(String(200), nullable=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(32), default="pending")  #: pending/applied/conflict/refused
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    applied_version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"), nullable=True)
    pulled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ------------------------------------------------------------------------------------------ validation spot-checks
class ValidationSample(Base):
    """A stored, reproducible sample of extraction records for accuracy spot-checks."""

    __tablename__ = "validation_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seed: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)
    stratify: Mapped[str | None] = mapped_column(String(32), nullable=True)
    redact: Mapped[bool] = mapped_column(Boolean, default=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    population: Mapped[dict[str, Any]] = mapped_column(JSON)  #: records per stratum in the population
    url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    project_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ValidationItem(Base):
    """One sampled (value, excerpt) pair: an extraction record, with the excerpt as sent for review."""

    __tablename__ = "validation_items"
    __table_args__ = (UniqueConstraint("sample_id", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("validation_samples.id", ondelete="CASCADE"), index=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("extraction_records.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    stratum: Mapped[str] = mapped_column(String(200))
    excerpt: Mapped[str | None] = mapped_column(Text, nullable=True)  #: as sent (redacted when asked)
    n_redactions: Mapped[int] = mapped_column(Integer, default=0)
    ls_task_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class ValidationJudgement(Base):
    """A validator's answer for one item: expressed / not expressed / cannot tell."""

    __tablename__ = "validation_judgements"
    __table_args__ = (UniqueConstraint("item_id", "ls_annotation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("validation_items.id", ondelete="CASCADE"), index=True)
    ls_annotation_id: Mapped[int] = mapped_column(Integer)
    annotator: Mapped[str | None] = mapped_column(String(200), nullable=True)
    answer: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    pulled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
