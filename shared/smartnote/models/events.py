"""Events that invoke the non-HTTP functions."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ScheduledEvent(BaseModel):
    """What an EventBridge rule (`Schedule`) or EventBridge Scheduler (`ScheduleV2`, with the
    template's Input) sends: `detail-type` "Scheduled Event", `time` the scheduled time.

    Only a schedule's: a rule on other events (S3's "Object Created", say) that targets a job
    must not run it on each of them."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    source: Literal["aws.events", "aws.scheduler"]
    time: AwareDatetime
    resources: list[str] = Field(default_factory=list)
