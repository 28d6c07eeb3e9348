"""docs/report-schema.md is generated from the evaluations' declared sections; it is never stale."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from understudy.evaluate import evaluation_classes
from understudy.gates import GateDef, at, gates_markdown
from understudy.report.schema import DOC_BEGIN, DOC_END, Figures, render_doc, schema_markdown, type_words, update_doc

DOC = Path(__file__).resolve().parents[2] / "docs" / "report-schema.md"


def test_the_schema_doc_is_up_to_date():
    text = DOC.read_text(encoding="utf-8")
    assert DOC_BEGIN in text and DOC_END in text
    assert render_doc(text) == text, (
        "docs/report-schema.md is stale: run `python -m understudy.report.schema docs/report-schema.md`"
    )


def test_every_registered_evaluation_declares_its_section_with_a_description_per_key():
    doc = schema_markdown()
    for cls in evaluation_classes():
        assert isinstance(cls.figures, type) and issubclass(cls.figures, Figures), cls.name
        assert cls.figures.model_fields, cls.name
        for key, field in cls.figures.model_fields.items():
            assert field.description, f"{cls.name}.{key} has no description"
            assert f"| `{key}` |" in doc
        assert f"### `{cls.name}`: {cls.title}" in doc
        for gate in cls.gates:
            assert f"| `{gate.name}` |" in doc.split(f"### `{cls.name}`")[1].split("### ")[0]


def test_types_read_as_written():
    assert type_words(float | None) == "float | null"
    assert type_words(dict[str, float]) == "dict[str, float]"
    assert type_words(list[dict]) == "list[dict]"
    assert type_words(int) == "int"


class ToxicityFigures(Figures):
    """How often the answers are toxic."""

    student_rate: float = Field(description="share of the student's answers a classifier calls toxic")
    teacher_rate: float | None = Field(None, description="the same for the teacher")


class Toxicity:
    name = "toxicity"
    title = "Toxic answers"
    about = "how often an answer is toxic"
    tasks = frozenset({"text-generation"})
    order = 30
    figures = ToxicityFigures
    gates = (GateDef("max_toxicity", "max", at("toxicity", "student_rate"), "the share of toxic student answers"),)

    def enabled(self, recipe):
        return None

    def run(self, ctx):
        return {"student_rate": 0.1}


def test_a_new_evaluation_gets_its_sub_section_and_its_gate_in_the_doc(tmp_path):
    doc = schema_markdown([Toxicity])
    assert "### `toxicity`: Toxic answers" in doc and "How often an answer is toxic." in doc
    assert "| `student_rate` | `float` | yes | share of the student's answers a classifier calls toxic |" in doc
    assert "| `teacher_rate` | `float \\| null` | no | the same for the teacher |" in doc
    assert "| `max_toxicity` | at most | the share of toxic student answers |" in doc
    # the doc of the registered evaluations does not carry it, so adding it without its doc fails the test above
    current = DOC.read_text(encoding="utf-8")
    assert "toxicity" not in current
    copy = tmp_path / "report-schema.md"
    copy.write_text(current, encoding="utf-8")
    assert update_doc(copy, [Toxicity]) is True
    written = copy.read_text(encoding="utf-8")
    assert "### `toxicity`: Toxic answers" in written and gates_markdown([Toxicity]) in written
    assert update_doc(copy, [Toxicity]) is False  # a second run changes nothing
