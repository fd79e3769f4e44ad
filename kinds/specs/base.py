"""The envelope every Kind shares (apiVersion, kind, metadata, spec, status).

Documents are validated and re-serialised through these models: unknown keys are dropped,
defaults filled and optional fields written out as explicit nulls, as the reference does.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

API_VERSION = "agent.wecode.io/v1"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")
NAME_RULE = "1-100 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"


class SpecModel(BaseModel):
    """Base for spec parts: unknown keys dropped, aliases accepted on input."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Ref(SpecModel):
    name: str
    namespace: str = "default"


class Metadata(SpecModel):
    name: str
    namespace: str = "default"
    displayName: str | None = None
    labels: dict[str, str] | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(f"invalid name {value!r}: {NAME_RULE}")
        return value

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_as_strings(cls, value: Any) -> Any:
        # Label values are strings; YAML often turns "true"/"1" into bool/int.
        if isinstance(value, dict):
            return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in value.items()}
        return value


class Status(SpecModel):
    state: str = "Available"
    message: str | None = None


class Resource(SpecModel):
    """A Kind document. Subclasses set ``KIND`` and narrow ``spec`` and ``status``."""

    KIND: ClassVar[str] = ""
    HAS_STATUS: ClassVar[bool] = True

    apiVersion: str = API_VERSION
    kind: str = ""
    metadata: Metadata
    spec: Any
    status: Status | None = Field(default=None)

    def normalised(self) -> dict[str, Any]:
        """The document as stored and returned: fixed apiVersion/kind, status defaulted."""
        data = self.model_dump(mode="json", by_alias=True)
        data["apiVersion"] = API_VERSION
        data["kind"] = self.KIND
        if not self.HAS_STATUS:
            data.pop("status", None)
        elif data.get("status") is None:
            data["status"] = Status().model_dump(mode="json")
        return data
