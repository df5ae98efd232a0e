"""Logs to read: runs, decisions, alarms, dead letters, unknown devices, the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import schemas
from api.context import ApiContext
from api.status import alarm_out, decision_out

Limit = Annotated[int, Query(ge=1, le=1000)]


def build(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["logs"])

    @router.get("/runs", response_model=list[schemas.RunOut])
    def list_runs(zone: str | None = None, limit: Limit = 50) -> list[schemas.RunOut]:
        return [
            schemas.RunOut.model_validate(r, from_attributes=True)
            for r in ctx.control.recent_runs(zone, limit)
        ]

    @router.get("/decisions", response_model=list[schemas.DecisionOut])
    def list_decisions(zone: str | None = None, limit: Limit = 50) -> list[schemas.DecisionOut]:
        return [decision_out(d) for d in ctx.state.decisions(zone, limit)]

    @router.get("/dead-letters", response_model=list[schemas.DeadLetterOut])
    def list_dead_letters(limit: Limit = 100) -> list[schemas.DeadLetterOut]:
        return [
            schemas.DeadLetterOut(
                received_at=d.received_at,
                topic=d.topic,
                reason=d.reason,
                detail=d.detail,
                payload_preview=d.payload[:200].decode("utf-8", errors="replace"),
            )
            for d in ctx.state.dead_letters(limit)
        ]

    @router.get("/alarms", response_model=list[schemas.AlarmOut])
    def list_alarms(active: bool = True, limit: Limit = 100) -> list[schemas.AlarmOut]:
        return [alarm_out(a) for a in ctx.state.alarms(active_only=active, limit=limit)]

    @router.get("/audit", response_model=list[schemas.AuditOut])
    def list_audit(limit: Limit = 100) -> list[schemas.AuditOut]:
        """Every state-changing request, newest first: who, what, before and after."""
        entries = ctx.users.audit_entries(limit)
        return [schemas.AuditOut.model_validate(e, from_attributes=True) for e in entries]

    @router.get("/unknown-devices", response_model=list[schemas.UnknownDeviceOut])
    def list_unknown_devices(limit: Limit = 500) -> list[schemas.UnknownDeviceOut]:
        """Devices that sent readings but are not in the farm config: to adopt or ignore."""
        devices = ctx.state.unknown_devices(limit)
        return [schemas.UnknownDeviceOut.model_validate(d, from_attributes=True) for d in devices]

    return router
