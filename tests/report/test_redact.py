"""labkit.report.redact: the key in every form, and identifier-shaped text, never survive; other text does."""

import base64
import binascii
import string

import nbformat
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.report.redact import key_forms, redact, redact_counted, redact_file, redact_notebook

KEY = "test-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEF"  # 52 characters


def _encodings(key: str) -> list[str]:
    """The forms a key takes in text, computed with binascii (not the module under test's own helpers)."""
    out = []
    for piece in (key.encode(), key.encode()[:32], key.encode()[:16]):
        hexed = binascii.hexlify(piece).decode()
        b64 = binascii.b2a_base64(piece, newline=False).decode()
        out += [piece.decode(), hexed, hexed.upper(), b64, b64.rstrip("="), b64.replace("+", "-").replace("/", "_")]
    return out


def test_every_form_of_the_key_is_replaced_and_the_text_around_it_kept():
    for form in _encodings(KEY):
        text = f"java.lang.IllegalArgumentException: bad literal X'{form}' in hmac(...), line 12"
        out, counts = redact_counted(text, keys=[KEY], identifiers=False)
        assert form not in out and counts == {"key": 1}, form
        assert out == "java.lang.IllegalArgumentException: bad literal X'[redacted key]' in hmac(...), line 12"


def test_the_key_comes_from_the_environment_by_default(monkeypatch):
    monkeypatch.setenv("LABKIT_PHI_KEY", KEY)
    assert redact(f"key={KEY}") == "key=[redacted key]"
    monkeypatch.delenv("LABKIT_PHI_KEY")
    assert redact(f"key={KEY}") == f"key={KEY}"  # no key known, nothing key-shaped to remove
    assert redact(None) is None


@settings(max_examples=30, deadline=None)
@given(key=st.text(alphabet=string.ascii_letters + string.digits + "+/=_-!@#", min_size=32, max_size=80),
       before=st.text(max_size=20), after=st.text(max_size=20), which=st.integers(0, 17))
def test_generated_keys_in_any_form_never_survive(key, before, after, which):
    form = _encodings(key)[which]
    out = redact(before + form + after, keys=[key], identifiers=False)
    assert form not in out


def test_identifiers_of_each_kind_are_replaced_by_their_kind():
    cases = {
        "ssn": "123-45-6789", "email": "jane.doe42@patients.example.net", "phone": "(555) 123-4567",
        "date": "1961-03-07", "record": "MRN01234567", "ip": "10.20.30.40", "device": "SN-1A2B3C4D5E",
    }
    for kind, value in cases.items():
        out, counts = redact_counted(f"KeyError: '{value}' not found", keys=[])
        assert out == f"KeyError: '[redacted {kind}]' not found" and counts == {kind: 1}, (kind, out)
    for value in ("555-123-4567", "555.123.4567", "+1 555 123 4567", "03/07/1961", "P0000042", "HP0123456789"):
        assert value not in redact(f"x {value} y", keys=[]), value


def test_ordinary_traceback_text_is_left_alone():
    text = ('File "/work/main/labkit/x.py", line 123, in <module>\n  spark.range(10_000).count()\n'
            "Py4JJavaError: An error occurred while calling o42.count: 127.0.0.1:4040 stage 3.0 (TID 17)")
    assert redact(text, keys=[KEY]) == text


def _notebook(path, outputs):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("run()")
    cell.outputs = outputs
    nb.cells = [cell]
    nbformat.write(nb, str(path))


def test_an_executed_notebook_loses_the_key_everywhere_and_identifiers_in_its_errors(tmp_path):
    hexed = KEY.encode().hex()
    path = tmp_path / "x.ipynb"
    _notebook(path, [
        nbformat.v4.new_output("stream", name="stdout", text=f"admitted 2025-01-02, key {KEY}\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": f"X'{hexed.upper()}'", "text/html": "<b>ok</b>"}),
        nbformat.v4.new_output("error", ename="ValueError", evalue=f"patient 123-45-6789 key {KEY}",
                               traceback=["\x1b[0;31mValueError\x1b[0m: patient 123-45-6789",
                                          f"key {base64.b64encode(KEY.encode()).decode()}"]),
    ])
    counts = redact_notebook(path, keys=[KEY])
    assert counts == {"key": 4, "ssn": 2}
    text = path.read_text()
    assert KEY not in text and hexed.upper() not in text and "123-45-6789" not in text
    nb = nbformat.read(str(path), 4)  # still a valid notebook
    nbformat.validate(nb)
    outs = nb.cells[0].outputs
    assert outs[0].text == "admitted 2025-01-02, key [redacted key]\n"  # a date outside an error is kept
    assert outs[2].traceback == ["ValueError: patient [redacted ssn]", "key [redacted key]"]
    assert outs[1].data["text/html"] == "<b>ok</b>"


def test_a_clean_notebook_and_a_clean_log_are_not_rewritten(tmp_path):
    path, log = tmp_path / "x.ipynb", tmp_path / "k.log"
    _notebook(path, [nbformat.v4.new_output("stream", name="stdout", text="fine\n")])
    log.write_bytes(b"WARN NativeCodeLoader \xff\n")
    before = path.read_bytes(), log.read_bytes()
    assert redact_notebook(path, keys=[KEY]) == {} and redact_file(log, keys=[KEY]) == {}
    assert (path.read_bytes(), log.read_bytes()) == before


def test_a_kernel_log_loses_the_key_and_identifiers_and_keeps_other_bytes(tmp_path):
    log = tmp_path / "k.log"
    log.write_bytes(f"ERROR Executor: bad row ssn=123-45-6789 key={KEY} \xe9\n".encode("latin-1"))
    assert redact_file(log, keys=[KEY]) == {"key": 1, "ssn": 1}
    assert log.read_bytes() == b"ERROR Executor: bad row ssn=[redacted ssn] key=[redacted key] \xe9\n"


def test_key_forms_are_longest_first_and_never_short():
    forms = key_forms(KEY)
    assert [len(f) for f in forms] == sorted((len(f) for f in forms), reverse=True)
    assert set(_encodings(KEY)) <= set(forms)
    short = key_forms("short")
    assert "short" not in short and all(len(f) >= 8 for f in short)
    assert redact("a short word", keys=["short"]) == "a short word"


def test_the_per_purpose_keys_derived_from_the_key_are_redacted_in_every_form():
    from labkit.topics import phi

    key = "a-master-key-for-the-redaction-test-0123456789"
    for purpose in phi.PURPOSES:
        derived = phi.derive_key(purpose, key)
        for form in (derived.hex(), derived.hex().upper(), base64.b64encode(derived).decode()):
            text = f"plan: hmac(unhex('{form}'), name)"
            assert form not in redact(text, keys=[key]), f"{purpose} key leaked as {form[:6]}..."
