"""Salesforce id handling: the 18-character checksum and the org prefix."""

import pytest

from sf_edge.salesforce.ids import org_prefix, to_18


@pytest.mark.parametrize(
    "full",
    # Real 18-character ids from the Salesforce captures in ../shared/fixtures/outbound/requests/.
    ["0019000001KwyWtAAJ", "0031I0000081tbPQAQ", "04l1I000000fztEQAQ", "04l9000001olR84AAE", "0067F000003pmdWQAQ"],
)
def test_to_18_reproduces_salesforce_checksum(full: str) -> None:
    assert to_18(full[:15]) == full
    assert to_18(full) == full


def test_to_18_distinguishes_case() -> None:
    assert to_18("001q000000svoog") != to_18("001Q000000SvOoG")


@pytest.mark.parametrize("bad", ["", "001", "001Q000000SvOoG!", "001Q000000SvOoGAAAA"])
def test_to_18_rejects_malformed_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Salesforce id"):
        to_18(bad)


def test_org_prefix_is_the_first_15_characters() -> None:
    assert org_prefix("00D7F00000107XsUAI") == org_prefix("00D7F00000107Xs") == "00D7F00000107Xs"
