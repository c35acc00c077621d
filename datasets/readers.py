"""Readers turn an uploaded file into rows of (input, expected answer, choices, metadata, split).

They stream: each yields one `Row` at a time and never holds the file in memory, except BIG-bench's
task.json, which is one JSON document. Every problem is a `DatasetFileError` that says where it is.
"""

import csv
import json
import os
from dataclasses import dataclass, field

from promptopt.errors import PromptOptError

INPUT_NAMES = ("input", "question", "prompt", "text", "query", "utterance", "sentence", "source", "instruction")
ANSWER_NAMES = ("expected", "answer", "target", "label", "output", "expected_answer", "gold", "reference")
CHOICES_NAMES = ("choices", "options")
SPLIT_NAMES = ("split",)
SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test", "testing": "test", "eval": "test",
}
BIGBENCH_TASK_KEYS = (
    "name", "description", "keywords", "task_prefix", "prefix", "example_input_prefix",
    "example_output_prefix", "few_shot_example_separator", "append_choices_to_input", "preferred_score",
)


class DatasetFileError(PromptOptError):
    pass


@dataclass
class Row:
    line: int
    input: str
    expected: str
    alternatives: list = field(default_factory=list)
    choices: list | None = None
    metadata: dict = field(default_factory=dict)
    split: str | None = None


@dataclass
class Mapping:
    input_field: str
    answer_field: str
    choices_field: str | None = None
    split_field: str | None = None


@dataclass
class Header:
    """What a reader yields first: the column mapping and what the file says about itself."""

    mapping: Mapping
    metadata: dict = field(default_factory=dict)


def detect_format(filename):
    extension = os.path.splitext(filename)[1].lower()
    formats = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "bigbench"}
    if extension not in formats:
        raise DatasetFileError(
            f"Unknown file format {extension or '(no extension)'!r} for {os.path.basename(filename)}: "
            "use CSV (.csv), JSON Lines (.jsonl) or a BIG-bench task.json (.json)."
        )
    return formats[extension]


def detect_mapping(columns, input_field=None, answer_field=None, where="the file"):
    """Pick the input and answer columns: the ones named, or the first conventional name present."""

    def pick(named, candidates, what, flag):
        if named:
            if named not in columns:
                raise DatasetFileError(
                    f"{where} has no column {named!r} (asked for as the {what}); columns: {', '.join(columns)}."
                )
            return named
        for name in candidates:
            for column in columns:
                if column.strip().lower() == name:
                    return column
        raise DatasetFileError(
            f"{where} has no {what} column: expected one of {', '.join(candidates)}, or name it with {flag}. "
            f"Columns: {', '.join(columns) or '(none)'}."
        )

    chosen_input = pick(input_field, INPUT_NAMES, "input", "--input-field")
    chosen_answer = pick(answer_field, ANSWER_NAMES, "answer", "--answer-field")
    if chosen_input == chosen_answer:
        raise DatasetFileError(f"The input and the answer cannot be the same column ({chosen_input!r}).")
    lower = {column.strip().lower(): column for column in columns}
    return Mapping(
        chosen_input,
        chosen_answer,
        next((lower[n] for n in CHOICES_NAMES if n in lower), None),
        next((lower[n] for n in SPLIT_NAMES if n in lower), None),
    )


def _text_lines(file):
    """Decode a binary file line by line, so a bad byte is reported with its line number."""
    for number, raw in enumerate(file, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetFileError(
                f"Line {number}: the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}). "
                "Save it as UTF-8 and upload it again."
            ) from None
        if "\x00" in text:
            raise DatasetFileError(f"Line {number}: the file holds a NUL byte, so it is not text; save it as UTF-8.")
        yield text.removeprefix("\ufeff") if number == 1 else text


def _split_value(value, where):
    if value is None or str(value).strip() == "":
        return None
    split = SPLIT_ALIASES.get(str(value).strip().lower())
    if split is None:
        raise DatasetFileError(f"{where}: unknown split {value!r}; use train, validation or test.")
    return split


def _choices_value(value, where):
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return [str(choice) for choice in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            raise DatasetFileError(f"{where}: the choices {text[:60]!r} are not a valid JSON list.") from None
        return [str(choice) for choice in parsed]
    return [choice.strip() for choice in text.split("|") if choice.strip()]


def _answers(value, where, field_name):
    """An answer field holds one answer or a list of acceptable ones (the first is the expected answer)."""
    answers = [str(v) for v in value] if isinstance(value, list) else [] if value is None else [str(value)]
    if not answers or answers[0].strip() == "":
        raise DatasetFileError(f"{where}: the answer ({field_name!r}) is empty.")
    return answers[0], answers[1:]


def _row_from_record(record, mapping, line, where):
    if mapping.input_field not in record or str(record[mapping.input_field] or "").strip() == "":
        raise DatasetFileError(f"{where}: the input ({mapping.input_field!r}) is missing or empty.")
    if mapping.answer_field not in record:
        raise DatasetFileError(f"{where}: the answer ({mapping.answer_field!r}) is missing.")
    expected, alternatives = _answers(record[mapping.answer_field], where, mapping.answer_field)
    used = {mapping.input_field, mapping.answer_field, mapping.choices_field, mapping.split_field}
    return Row(
        line=line,
        input=str(record[mapping.input_field]),
        expected=expected,
        alternatives=alternatives,
        choices=_choices_value(record.get(mapping.choices_field), where) if mapping.choices_field else None,
        metadata={key: value for key, value in record.items() if key not in used},
        split=_split_value(record.get(mapping.split_field), where) if mapping.split_field else None,
    )


def read_csv(file, input_field=None, answer_field=None):
    reader = csv.reader(_text_lines(file), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise DatasetFileError("The file is empty.")
        columns = [column.strip() for column in header]
        mapping = detect_mapping(columns, input_field, answer_field, where="The CSV header")
        yield Header(mapping)
        for values in reader:
            line = reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(columns):
                raise DatasetFileError(
                    f"Line {line}: {len(values)} fields where the header has {len(columns)}. "
                    "Check for a missing or extra comma, or an unquoted comma inside a field."
                )
            yield _row_from_record(dict(zip(columns, values)), mapping, line, f"Line {line}")
    except csv.Error as exc:
        raise DatasetFileError(f"Line {reader.line_num}: this is not valid CSV ({exc}).") from None


def read_jsonl(file, input_field=None, answer_field=None):
    mapping = None
    for line, text in enumerate(_text_lines(file), start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetFileError(f"Line {line}: invalid JSON ({exc.msg} at column {exc.colno}).") from None
        if not isinstance(record, dict):
            raise DatasetFileError(f"Line {line}: expected a JSON object per line, got {type(record).__name__}.")
        if "target_scores" in record and not answer_field:
            record = _flatten_target_scores(record, f"Line {line}")
        if mapping is None:
            mapping = detect_mapping(list(record), input_field, answer_field, where=f"Line {line}")
            yield Header(mapping)
        yield _row_from_record(record, mapping, line, f"Line {line}")
    if mapping is None:
        raise DatasetFileError("The file is empty.")


def _flatten_target_scores(record, where):
    """BIG-bench's {choice: score}: the best-scoring choice is the answer, every key is a choice."""
    scores = record.pop("target_scores")
    if not isinstance(scores, dict) or not scores:
        raise DatasetFileError(f"{where}: target_scores must be a non-empty object of choice: score.")
    try:
        best = max(scores, key=lambda choice: float(scores[choice]))
    except (TypeError, ValueError):
        raise DatasetFileError(f"{where}: target_scores must map each choice to a number.") from None
    return {**record, "target": best, "choices": list(scores)}


def read_bigbench(file, input_field=None, answer_field=None):
    text = "".join(_text_lines(file))
    if not text.strip():
        raise DatasetFileError("The file is empty.")
    try:
        task = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetFileError(f"Line {exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno}).") from None
    if not isinstance(task, dict) or "examples" not in task:
        raise DatasetFileError('This is not a BIG-bench task: expected a JSON object with an "examples" list.')
    examples = task["examples"]
    if not isinstance(examples, list) or not examples:
        raise DatasetFileError('The BIG-bench task has no examples: "examples" is empty.')
    yield Header(BIGBENCH_MAPPING, {key: task[key] for key in BIGBENCH_TASK_KEYS if key in task})
    for number, example in enumerate(examples, start=1):
        where = f"Example {number}"
        if not isinstance(example, dict):
            raise DatasetFileError(f"{where}: expected an object, got {type(example).__name__}.")
        if "target_scores" in example:
            example = _flatten_target_scores(dict(example), where)
        elif "target" not in example:
            raise DatasetFileError(f'{where}: has neither "target" nor "target_scores".')
        yield _row_from_record(example, BIGBENCH_MAPPING, number, where)


BIGBENCH_MAPPING = Mapping("input", "target", "choices")
READERS = {"csv": read_csv, "jsonl": read_jsonl, "bigbench": read_bigbench}
