"""What can go wrong on the day, and how often: the simulation's settings in one place.

Every default carries its source, or says it is a judgement call. The figures:

- monitoring overrun: 3.5 % of Spravato sessions are not ready to leave at 2 h (DOMAIN.md,
  from the Spravato label); applied to every protocol's monitoring phase unless overridden
  (for IV, IM and KAP no figure was found: a judgement call). The extra minutes are not
  sourced: exponential with mean 30 min, at most 120 (a judgement call).
- late arrival: 7.7 % of 1,500 adult visits to an outpatient pain clinic arrived at least a
  minute late (Williams et al., BMJ Open 2014;4:e004679, Johns Hopkins; as reported by
  FiveThirtyEight, "Dear Mona, how often do people arrive late to appointments?", and Fierce
  Healthcare, "nearly 8 percent"). FiveThirtyEight gives the average latecomer as 20.5 min late;
  the paper's abstract gives -20.5 min as the mean unpunctuality of all arrivals, so the minutes
  are uncertain: exponential with mean 20 min, at most 60 (a judgement call on the shape).
- no-show: 142 of 1,620 scheduled outpatient psychiatry visits (8.8 %) were missed (Sparr,
  Moffitt & Ward, Am J Psychiatry 1993;150:801-805; patients with major depression somewhat
  less often). Other psychiatry clinics report 2-30 % (Psychiatric Quarterly 2022,
  doi:10.1007/s11126-022-09983-6). That it carries over to a ketamine clinic is a judgement call.
- staff absence: 2 % of a staff member's working days; not sourced, a setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scheduler.errors import InvalidInput
from scheduler.validate import issues_from, read_data

Share = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveMinutes = Annotated[float, Field(ge=0.0, le=24 * 60)]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Delay(_Settings):
    """A delay that happens to a ``share`` of sessions, by ``mean_minutes`` on average."""

    share: Share = Field(description="Share of sessions it happens to (0..1).")
    mean_minutes: PositiveMinutes = Field(description="Mean extra minutes when it happens.")
    max_minutes: PositiveMinutes = Field(description="Longest delay drawn (the tail is cut).")
    shape: Literal["exponential", "fixed"] = Field(
        default="exponential",
        description="exponential: memoryless minutes around the mean; fixed: exactly the mean.")

    @classmethod
    def never(cls) -> Delay:
        return cls(share=0.0, mean_minutes=0.0, max_minutes=0.0)


SPRAVATO_OVERRUN = Delay(share=0.035, mean_minutes=30.0, max_minutes=120.0)
"""3.5 % not ready to leave at 2 h (DOMAIN.md, Spravato label); the minutes are a judgement."""

LATE_ARRIVAL = Delay(share=0.077, mean_minutes=20.0, max_minutes=60.0)
"""7.7 % arrive late (Williams et al., BMJ Open 2014); the minutes' mean and shape are a
judgement (FiveThirtyEight's reading of the study: 20.5 min on average)."""

NO_SHOW_RATE = 0.088
"""8.8 % of psychiatry outpatient visits missed (Sparr et al., Am J Psychiatry 1993)."""

STAFF_ABSENCE_RATE = 0.02
"""Per staff member and working day; not sourced (a setting)."""


class ProtocolRisk(_Settings):
    """One protocol's own figures, where they differ from the clinic-wide ones."""

    overrun: Delay | None = Field(default=None, description="Monitoring overrun of this "
                                  "protocol; default the clinic-wide `overrun`.")
    overrun_phase: str | None = Field(
        default=None, description="The phase that runs over; default the longest phase after "
        "the dose phase (Spravato's monitoring, IV's recovery, KAP's session).")
    no_show_rate: Share | None = Field(default=None, description="Default `no_show_rate`.")


class PatientRecord(_Settings):
    """A patient's own attendance history, where the clinic knows it (the scenario's course
    history leaves missed sessions out, so they come from the clinic's records)."""

    attended: Annotated[int, Field(ge=0)] = 0
    missed: Annotated[int, Field(ge=0)] = 0


class SimulationSettings(_Settings):
    """What the simulation draws, per session unless said otherwise (module doc: sources)."""

    overrun: Delay = Field(default=SPRAVATO_OVERRUN, description="Share of sessions not ready "
                           "at the end of their monitoring phase, and the extra minutes.")
    late: Delay = Field(default=LATE_ARRIVAL, description="Share of patients arriving late, "
                        "and by how much (early arrivals wait for their booked time).")
    no_show_rate: Share = Field(default=NO_SHOW_RATE, description="Share of sessions the "
                                "patient does not come to.")
    staff_absence_rate: Share = Field(default=STAFF_ABSENCE_RATE, description="Chance that "
                                      "a staff member on shift is absent for the whole day.")
    history_prior_sessions: Annotated[float, Field(ge=0.0)] = Field(
        default=10.0, description="Weight of the protocol's no-show rate against a patient's "
        "own record, in sessions: rate = (missed + w * protocol rate) / (sessions + w). "
        "A judgement call: ten sessions of a patient's own count as much as the prior.")
    protocols: dict[str, ProtocolRisk] = Field(default={}, description="Per protocol id.")
    patients: dict[str, PatientRecord] = Field(default={}, description="Per patient id.")
    late_start_minutes: Annotated[float, Field(ge=0.0)] = Field(
        default=10.0, description="A session starting more than this after its booked time "
        "starts late (the fragile sessions).")
    fragile_count: Annotated[int, Field(ge=0)] = Field(
        default=10, description="How many fragile sessions the result lists.")

    @classmethod
    def certain(cls) -> SimulationSettings:
        """Nothing random: every session on time, no overrun, no-show or absence."""
        return cls(overrun=Delay.never(), late=Delay.never(), no_show_rate=0.0,
                   staff_absence_rate=0.0)

    def overrun_of(self, protocol: str) -> Delay:
        own = self.protocols.get(protocol)
        return own.overrun if own is not None and own.overrun is not None else self.overrun

    def no_show_of(self, protocol: str, patient: str) -> float:
        """The patient's no-show rate: the protocol's, pulled towards their own record."""
        own = self.protocols.get(protocol)
        base = own.no_show_rate if own is not None and own.no_show_rate is not None \
            else self.no_show_rate
        record = self.patients.get(patient)
        if record is None:
            return base
        seen = record.attended + record.missed
        weight = self.history_prior_sessions
        if seen + weight == 0:
            return base
        return (record.missed + weight * base) / (seen + weight)


def read_settings(source: Path | Any, where: str = "settings") -> SimulationSettings:
    """Settings from a YAML or JSON file, or from parsed data; every problem at once, each
    with its field path, as InvalidInput."""
    if isinstance(source, Path):
        where, source = str(source), read_data(source)
    try:
        return SimulationSettings.model_validate(source or {})
    except ValidationError as exc:
        raise InvalidInput(issues_from(exc, where)) from exc
