"""Readers turn an uploaded file into rows of (input, expected answer, choices, metadata, split).

They stream: each yields one `Row` at a time and never holds the file in memory, except BIG-bench's
task.json, which is one JSON document. Every problem is a `DatasetFileError` that says where it is.
"""

import csv
import json
import os
import re
from dataclasses import dataclass, field

from django.conf import settings

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
# How deep a field's value may nest lists and objects. Deeper is no dataset anyone writes, and every later step
# (storing, rendering, the API) walks values recursively: a 100,000-deep value would exhaust Python's stack.
MAX_NESTING = 32
# A JSON escape that makes a string PostgreSQL (and UTF-8) cannot hold: NUL or half of a surrogate pair.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


class DatasetFileError(PromptOptError):
    """A file (or an import's options) that cannot be read into examples; the message says where and why."""

    code = "invalid_file"


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
                    f"{where} has no column {_quote(named)} (asked for as the {what}); columns: {_names(columns)}."
                )
            return named
        for name in candidates:
            for column in columns:
                if column.strip().lower() == name:
                    return column
        raise DatasetFileError(
            f"{where} has no {what} column: expected one of {', '.join(candidates)}, or name it with {flag}. "
            f"Columns: {_names(columns)}."
        )

    chosen_input = pick(input_field, INPUT_NAMES, "input", "--input-field")
    chosen_answer = pick(answer_field, ANSWER_NAMES, "answer", "--answer-field")
    if chosen_input == chosen_answer:
        raise DatasetFileError(f"The input and the answer cannot be the same column ({_quote(chosen_input)}).")
    lower = {column.strip().lower(): column for column in columns}
    return Mapping(
        chosen_input,
        chosen_answer,
        next((lower[n] for n in CHOICES_NAMES if n in lower), None),
        next((lower[n] for n in SPLIT_NAMES if n in lower), None),
    )


def _quote(value, limit=60):
    """A value as an error message shows it: quoted, and cut short (a message must stay readable)."""
    text = repr(value if isinstance(value, str) else str(value))
    return text if len(text) <= limit else text[: limit - 2] + "…" + text[0]


def _names(columns, shown=20):
    names = ", ".join(_quote(column, 40)[1:-1] for column in columns[:shown])
    more = f" and {len(columns) - shown} more" if len(columns) > shown else ""
    return (names or "(none)") + more


def _field_of(where, name):
    return f"{where}, field {_quote(name, 40)}" if name is not None else where


def check_value(value, where, name=None, *, strict=False):
    """Refuse a value no later step can hold: nested past MAX_NESTING, longer than DATASET_MAX_CELL_CHARS (the
    characters of its strings, keys included), or (`strict`: it came from JSON escapes) with NUL or a lone
    surrogate. Iterative: the value may be as deep as the JSON parser allowed."""
    limit = settings.DATASET_MAX_CELL_CHARS
    if isinstance(value, str) and not strict:  # the common case, a text cell
        if len(value) > limit:
            raise DatasetFileError(f"{_field_of(where, name)}: {len(value):,} characters, more than the limit of "
                                   f"{limit:,} per field (DATASET_MAX_CELL_CHARS).")
        return
    size, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_NESTING:
                raise DatasetFileError(f"{_field_of(where, name)}: nested more than {MAX_NESTING} levels deep "
                                       "(lists and objects inside each other); flatten it.")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
            if isinstance(item, dict):
                stack.extend((key, depth + 1) for key in item)
            continue
        if isinstance(item, str):
            size += len(item)
            if strict and ("\x00" in item or not _encodable(item)):
                raise DatasetFileError(f"{_field_of(where, name)}: holds a NUL character or half of a surrogate "
                                       "pair (a \\u escape), which no text can store.")
        if size > limit:
            raise DatasetFileError(f"{_field_of(where, name)}: more than {limit:,} characters, the limit per field "
                                   "(DATASET_MAX_CELL_CHARS).")


def _encodable(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _NotFinite(ValueError):
    pass


def _finite_float(text):
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise _NotFinite(text)
    return number


def _not_a_number(text):
    raise _NotFinite(text)


_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_not_a_number)


def load_json(text, where, base=0):
    """json.loads, with every way it fails as one DatasetFileError naming the line (`where` for a one-line
    document, such as a JSON Lines record). `base` is how deep the records sit in the document (BIG-bench's
    examples: 3), for the field named when the nesting is too deep to parse."""
    prefix = f"{where}: " if where else ""
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        at = f"{where}: " if where else f"Line {exc.lineno}: "
        raise DatasetFileError(f"{at}invalid JSON ({exc.msg} at column {exc.colno}).") from None
    except _NotFinite as exc:
        raise DatasetFileError(f"{prefix}the number {_quote(str(exc))} is not a finite number; JSON has no "
                               "NaN or Infinity.") from None
    except ValueError:  # Python's limit on the digits of an integer it converts
        raise DatasetFileError(f"{prefix}a number in the JSON has too many digits to read.") from None
    except RecursionError:
        line, key = _too_deep(text, base + MAX_NESTING)
        at = where or f"Line {line}"
        raise DatasetFileError(f"{_field_of(at, key)}: nested more than {MAX_NESTING} levels deep (lists and "
                               "objects inside each other); flatten it.") from None


_JSON_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"(\s*:)?|[\[\]{}\n]')


def _too_deep(text, limit):
    """Where a JSON document first nests past `limit`: its line, and the key of the field it is in at level
    `limit - MAX_NESTING` (a record's field), if any. Only called after the parser gave up on it."""
    line, depth, keys = 1, 0, {}
    for token in _JSON_TOKENS.finditer(text):
        char = token.group()
        if char == "\n":
            line += 1
        elif char in "[{":
            depth += 1
            if depth > limit:
                break
        elif char in "]}":
            depth -= 1
        elif token.group(1):  # a key
            keys[depth] = json.loads(char[: char.rindex(":")].rstrip())
    return line, keys.get(limit - MAX_NESTING)


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
        raise DatasetFileError(f"{where}: unknown split {_quote(value)}; use train, validation or test.")
    return split


def _choices_value(value, where, field_name):
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return [str(choice) for choice in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = load_json(text, where)
        except DatasetFileError as exc:
            raise DatasetFileError(f"{exc.message} The choices {_quote(text)} are not a valid JSON list.") from None
        check_value(parsed, where, field_name, strict=True)
        return [str(choice) for choice in parsed]
    return [choice.strip() for choice in text.split("|") if choice.strip()]


def _answers(value, where, field_name):
    """An answer field holds one answer or a list of acceptable ones (the first is the expected answer)."""
    answers = [str(v) for v in value] if isinstance(value, list) else [] if value is None else [str(value)]
    if not answers or answers[0].strip() == "":
        raise DatasetFileError(f"{where}: the answer ({_quote(field_name)}) is empty.")
    return answers[0], answers[1:]


def _row_from_record(record, mapping, line, where, strict=False, checked=False):
    """One Row from a record of the file (a dict, field name -> value). `strict`: the values came out of JSON, and
    an escape may have made a string no database can store. `checked`: the record is known to be within limits."""
    limit = settings.DATASET_MAX_CELL_CHARS
    for key, value in () if checked else record.items():
        if strict or len(key) > limit:
            check_value(key, where, strict=strict)
        if strict or type(value) is not str or len(value) > limit:  # else fine: a call per cell costs a lot
            check_value(value, where, key, strict=strict)
    if mapping.input_field not in record or str(record[mapping.input_field] or "").strip() == "":
        raise DatasetFileError(f"{where}: the input ({_quote(mapping.input_field)}) is missing or empty.")
    if mapping.answer_field not in record:
        raise DatasetFileError(f"{where}: the answer ({_quote(mapping.answer_field)}) is missing.")
    expected, alternatives = _answers(record[mapping.answer_field], where, mapping.answer_field)
    used = {mapping.input_field, mapping.answer_field, mapping.choices_field, mapping.split_field}
    return Row(
        line=line,
        input=str(record[mapping.input_field]),
        expected=expected,
        alternatives=alternatives,
        choices=(_choices_value(record.get(mapping.choices_field), where, mapping.choices_field)
                 if mapping.choices_field else None),
        metadata={key: value for key, value in record.items() if key not in used},
        split=_split_value(record.get(mapping.split_field), where) if mapping.split_field else None,
    )


def read_csv(file, input_field=None, answer_field=None):
    # The csv module refuses a field past its own limit (131,072 characters) with its own words; ours comes first.
    csv.field_size_limit(max(csv.field_size_limit(), settings.DATASET_MAX_CELL_CHARS + 1))
    reader = csv.reader(_text_lines(file), strict=True)
    try:
        header = next(reader, None)
        if not header:
            raise DatasetFileError("The file is empty.")
        columns = [column.strip() for column in header]
        seen = set()
        for column in columns:
            check_value(column, "The CSV header")
            if column and column in seen:
                raise DatasetFileError(f"The CSV header names the column {_quote(column)} twice; rename one.")
            seen.add(column)
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
        if "field larger than field limit" in str(exc):
            raise DatasetFileError(f"Line {reader.line_num}: a field has more than {settings.DATASET_MAX_CELL_CHARS:,} "
                                   "characters, the limit per field (DATASET_MAX_CELL_CHARS).") from None
        raise DatasetFileError(f"Line {reader.line_num}: this is not valid CSV ({exc}).") from None


def read_jsonl(file, input_field=None, answer_field=None):
    mapping, limit = None, settings.DATASET_MAX_CELL_CHARS
    for line, text in enumerate(_text_lines(file), start=1):
        if not text.strip():
            continue
        where = f"Line {line}"
        record = load_json(text, where, base=1)
        if not isinstance(record, dict):
            raise DatasetFileError(f"{where}: expected a JSON object per line, got {_json_type(record)}.")
        strict = _UNSTORABLE_ESCAPE.search(text) is not None
        # A line no longer than a cell may be, with fewer brackets than the nesting allowed, is within the limits:
        # no need to walk its values.
        checked = not strict and len(text) <= limit and text.count("[") + text.count("{") <= MAX_NESTING
        if "target_scores" in record and not answer_field:
            check_value(record["target_scores"], where, "target_scores", strict=strict)
            record = _flatten_target_scores(record, where)
        if mapping is None:
            mapping = detect_mapping(list(record), input_field, answer_field, where=where)
            yield Header(mapping)
        yield _row_from_record(record, mapping, line, where, strict, checked)
    if mapping is None:
        raise DatasetFileError("The file is empty.")


def _json_type(value):
    names = {dict: "an object", list: "a list", str: "a string", bool: "true or false", type(None): "null"}
    return names.get(type(value), "a number")


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
    task = load_json(text, None, base=3)
    if not isinstance(task, dict) or "examples" not in task:
        raise DatasetFileError('This is not a BIG-bench task: expected a JSON object with an "examples" list, '
                               f"got {_json_type(task)}{' without one' if isinstance(task, dict) else ''}.")
    examples = task["examples"]
    if not isinstance(examples, list) or not examples:
        raise DatasetFileError('The BIG-bench task has no examples: "examples" is empty or not a list.')
    strict = _UNSTORABLE_ESCAPE.search(text) is not None
    metadata = {key: task[key] for key in BIGBENCH_TASK_KEYS if key in task}
    for key, value in metadata.items():
        check_value(value, "The task", key, strict=strict)
    yield Header(BIGBENCH_MAPPING, metadata)
    for number, example in enumerate(examples, start=1):
        where = f"Example {number}"
        if not isinstance(example, dict):
            raise DatasetFileError(f"{where}: expected an object, got {_json_type(example)}.")
        if "target_scores" in example:
            check_value(example["target_scores"], where, "target_scores", strict=strict)
            example = _flatten_target_scores(dict(example), where)
        elif "target" not in example:
            raise DatasetFileError(f'{where}: has neither "target" nor "target_scores".')
        yield _row_from_record(example, BIGBENCH_MAPPING, number, where, strict)


BIGBENCH_MAPPING = Mapping("input", "target", "choices")
READERS = {"csv": read_csv, "jsonl": read_jsonl, "bigbench": read_bigbench}
