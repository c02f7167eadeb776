"""Events that invoke the non-HTTP functions."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ScheduledEvent(BaseModel):
    """What an EventBridge rule (`Schedule`) or EventBridge Scheduler (`ScheduleV2`) sends
    when no custom input is set: `detail-type` "Scheduled Event", `time` the scheduled time."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    time: AwareDatetime
    resources: list[str] = Field(default_factory=list)
