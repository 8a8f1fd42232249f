import pytest
from pydantic import ValidationError

from videokr.records import (
    MAX_OPTIONS,
    MIN_OPTIONS,
    Discipline,
    EvalItem,
    Example,
    KnowledgePoint,
    ProblemType,
    Scenario,
    SearchKeyword,
    Skill,
    Video,
    record_from_json,
)


def mc(**kw):
    base = dict(id="e1", problem_type="multiple choice", question="Which?", options=["x", "y", "z"], answer="B",
                video_id="v1", video_path="v1.mp4")
    base.update(kw)
    return Example(**base)


def test_paper_vocabularies():
    assert [s.value for s in Skill] == ["VidR", "KnowVid", "KnowVidR"]
    assert [p.value for p in ProblemType] == ["multiple choice", "open-ended"]
    assert len(Discipline) == 4
    assert (MIN_OPTIONS, MAX_OPTIONS) == (2, 10)


def test_mc_answer_must_be_an_offered_letter():
    assert mc().answer_text() == "y"
    with pytest.raises(ValidationError, match=r"answer 'D' is not one of the offered letters A, B, C"):
        mc(answer="D")


@pytest.mark.parametrize("n", [1, 11])
def test_option_count_bounds(n):
    with pytest.raises(ValidationError, match="needs 2–10 options"):
        mc(options=[f"o{i}" for i in range(n)], answer="A")


def test_ten_options_allowed_and_lettered():
    e = mc(options=[f"o{i}" for i in range(10)], answer="J")
    assert e.lettered_options()[-1] == "J. o9"


def test_open_ended_has_no_options():
    with pytest.raises(ValidationError, match="open-ended question carries no options"):
        Example(id="e", problem_type="open-ended", question="q", options=["a", "b"], answer="x",
                video_id="v", video_path="v")


def test_empty_option_rejected():
    with pytest.raises(ValidationError, match="an option is empty"):
        mc(options=["x", " "], answer="A")


def test_unknown_fields_are_errors_not_silence():
    with pytest.raises(ValidationError, match="extra"):
        mc(skil="VidR")


def test_youtube_id_shape():
    Video(id="v", path="a.mp4", youtube_id="dQw4w9WgXcQ")
    with pytest.raises(ValidationError, match="11 characters"):
        Video(id="v", path="a.mp4", youtube_id="short")


def test_other_records_validate_and_round_trip():
    kp = KnowledgePoint(id="kp1", discipline="Healthcare", subject="Medicine", course="Cardiology",
                        lecture="Heart sounds", term="S3 gallop", definition="An extra heart sound ...")
    assert record_from_json("knowledge_point", kp.to_json()) == kp
    with pytest.raises(ValidationError):
        KnowledgePoint(id="kp", discipline="Astrology", subject="s", course="c", lecture="l", term="t",
                       definition="d")
    for rec in (Scenario(id="s", knowledge_point_id="kp1", text="a rocket launching"),
                SearchKeyword(id="k", scenario_id="s", knowledge_point_id="kp1", text="rocket launch slow motion"),
                EvalItem(id="q", problem_type="open-ended", question="q", answer="a", video_id="v", video_path="v",
                         dataset="MMVU")):
        assert record_from_json(rec.kind, rec.to_json()) == rec
    with pytest.raises(ValueError, match="unknown record kind"):
        record_from_json("nope", "{}")
