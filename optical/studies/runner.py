"""One runner for a study of the parameters: resolve the students its rules choose on dev, train its students
(selected on dev) and read on test the students it names (all of them for a study of final students) in every
readout it declares (:func:`optical.studies.test_reads.final_test`, with
the claim's macro test against KD). ``optical run`` and the notebooks call it; what goes to test is the study's."""

from __future__ import annotations

from pathlib import Path

from optical.studies.students import dev_study
from optical.studies.test_reads import final_test
from optical.study_spec import resolve_pending, studies_of, tested_students


def run_study(params: dict, key: str, root: str | Path = ".", fresh: bool = False,
              only: list[str] | None = None) -> dict[str, dict]:
    """Study ``key``: ``{"dev": its students' dev results, "test": its test reads (empty unless final)}``.

    A combination rule waiting for the study's students (:func:`optical.study_spec.combination`) is resolved and
    trained once they have run. ``only``: train just these students (a session's share of a long study); a final
    study still reads each one's test as it finishes, but the seed means and the claim's test wait for a run of the
    whole study."""
    if key not in studies_of(params):
        raise ValueError(f"no study {key!r} in the parameters; studies: {studies_of(params)}")
    params = {**params, key: resolve_pending(params, key, root)}
    s = params[key]
    dev = dev_study(params, key, root, fresh, only)
    if not only and any("combine" in item for item in params[key].get("pending", ())):
        # a combination of the students just trained: declared now, trained as one more student
        params = {**params, key: resolve_pending(params, key, root)}
        dev = dev_study(params, key, root, fresh)
    if only:
        return {"dev": dev, "test": {}}
    tested = list(s["variants"]) if s.get("final") else tested_students(params, key, root)
    if tested and not s.get("readouts"):
        raise ValueError(f"{key}: a study that reads the test split must declare its readouts")
    test = final_test(params, key, tested, tuple(s["readouts"]), root, fresh) if tested else {}
    return {"dev": dev, "test": test}
