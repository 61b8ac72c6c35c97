"""Probe-side fixes of the fidelity review (../shared/reference/probe-review.md), read from the syntax
trees of the scripts as sent (no Windows host here; the lab covers what the answers look like)."""

from __future__ import annotations

from test_probe_fidelity import code_without_comments_and_strings, command_names

from entra_standby.probes import load_probe


def test_m1_machine_identifier_is_normalised_to_the_d_form() -> None:
    script = load_probe("machine")
    code = code_without_comments_and_strings(script)
    assert "TryParse" in code and "$parsed.ToString('D')" in script.text
    assert "ConvertTo-EsDashedGuid -Value (Get-EsRegistryValue" in script.text


def test_m2_adsynctools_is_looked_for_beyond_this_session() -> None:
    script = load_probe("machine")
    assert "Microsoft Azure Active Directory Connect\\Tools\\AdSyncTools.psm1" in script.text
    assert "Documents\\WindowsPowerShell\\Modules\\ADSyncTools" in script.text


def test_cf1_the_deletion_threshold_cmdlet_is_never_called() -> None:
    config = load_probe("config")
    assert "Get-ADSyncExportDeletionThreshold" not in command_names(config)
    code = code_without_comments_and_strings(config)
    assert "throw" not in code.split("Get-EsDeletionThreshold", 1)[1].split("$data", 1)[0]


def test_cf2_company_features_cross_check_and_errors_per_feature() -> None:
    config = load_probe("config")
    assert "Get-ADSyncAADCompanyFeature" in command_names(config)
    code = code_without_comments_and_strings(config)
    assert "$featureErrors" in code and "$featureFailures" in code


def test_t2_tls_probe_refuses_a_32_bit_session() -> None:
    code = code_without_comments_and_strings(load_probe("tls"))
    assert "Is64BitProcess" in code


def test_c1_double_hop_is_classified_in_the_probe() -> None:
    code = code_without_comments_and_strings(load_probe("connectors"))
    assert "ImpersonationLevel" in code and "Test-EsDoubleHopFailure" in code
    assert "permissions_error_kind" in code
