"""Property tests (Hypothesis) of the identity rule (issue 29): any text gets a key without an error, the key of a
key is itself, case and compatibility forms and TS #39 look-alikes never make a second person, and claiming any
text ends in a claim or a clear refusal. The style of tests/test_trust_fuzz.py; small example counts keep it fast."""

from __future__ import annotations

import os
import tempfile
import unicodedata
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnkit.classroom.identity import _prototypes, identity_key, same_person
from cnnkit.classroom.permissions import clean_identity

FAST = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))

# Every single character whose TS #39 prototype is a given lowercase ASCII letter: the look-alikes of that letter.
_LOOKS = defaultdict(list)
for _source, _target in _prototypes().items():
    if len(_target) == 1 and "a" <= _target <= "z":
        _LOOKS[_target].append(_source)
LETTERS = "".join(sorted(_LOOKS))

names = st.text(alphabet=st.sampled_from("abcdefghijklnopqrstuvwxyz"), min_size=1, max_size=12)  # no m: m is "rn"


@FAST
@given(st.text(max_size=40))
def test_any_text_has_a_key_and_the_key_of_a_key_is_itself(text):
    key = identity_key(text)
    assert isinstance(key, str) and identity_key(key) == key
    assert same_person(text, text) or not text.strip()


@FAST
@given(st.text(max_size=30))
def test_case_and_compatibility_forms_are_one_person(text):
    forms = (text, text.upper(), unicodedata.normalize("NFKC", text), unicodedata.normalize("NFD", text))
    if not text.strip() or any(form.startswith("(") for form in forms):  # "(...)" names are exact only (reserved);
        return                                                            # "⒜" is "(a)" in NFKC
    assert same_person(text, text.upper()) or identity_key(text.upper()) != identity_key(text.casefold().upper())
    assert same_person(text, unicodedata.normalize("NFKC", text))
    assert same_person(text, unicodedata.normalize("NFD", text))


@FAST
@given(names, st.data())
def test_a_name_with_look_alike_letters_is_the_same_person(name, data):
    swapped = "".join(data.draw(st.sampled_from(_LOOKS[ch])) if ch in _LOOKS and data.draw(st.booleans()) else ch
                      for ch in name)
    assert same_person(name, swapped), (name, swapped)
    assert same_person(name.capitalize(), swapped)
    fullwidth = "".join(chr(ord(ch) + 0xFEE0) for ch in name)
    assert same_person(name, fullwidth)


@FAST
@given(st.text(max_size=300))
def test_cleaning_any_identity_ends_in_a_name_or_a_clear_message(text):
    try:
        cleaned = clean_identity(text)
    except ValueError as error:
        assert str(error).strip() and "Traceback" not in str(error)
    else:
        assert cleaned and same_person(cleaned, text)


@pytest.fixture(scope="module")
def claims_root():
    with tempfile.TemporaryDirectory() as folder:
        saved = os.environ.get("CNNKIT_CHECKPOINT_DIR")
        os.environ["CNNKIT_CHECKPOINT_DIR"] = folder
        try:
            yield folder
        finally:
            if saved is None:
                os.environ.pop("CNNKIT_CHECKPOINT_DIR", None)
            else:
                os.environ["CNNKIT_CHECKPOINT_DIR"] = saved


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(names, st.data())
def test_once_a_name_is_claimed_no_look_alike_can_claim_it(claims_root, name, data):
    from cnnkit.classroom import NameTaken, release_name, use_name

    claimed, key = use_name(name.capitalize(), root=claims_root)
    try:
        swapped = "".join(data.draw(st.sampled_from(_LOOKS[ch])) if ch in _LOOKS and data.draw(st.booleans())
                          else ch for ch in name.upper())
        try:
            use_name(swapped, "", root=claims_root)
        except NameTaken:
            pass
        except ValueError as error:  # a look-alike that is not a name at all (e.g. a symbol): refused anyway
            assert "name" in str(error)
        else:
            raise AssertionError(f"{swapped!r} claimed beside {claimed!r}")
    finally:
        release_name(claimed, root=claims_root)
