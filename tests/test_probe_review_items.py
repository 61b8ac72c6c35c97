"""Probe-side fixes of the fidelity review (../shared/reference/probe-review.md), read from the syntax
trees of the scripts as sent (no Windows host here; the lab covers what the answers look like)."""

from __future__ import annotations

from test_probe_fidelity import code_without_comments_and_strings, command_names

from entra_standby.probes import DRILL_PROBES, PROBE_NAMES, load_probe


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


ADSYNC_PROBES = ("scheduler", "run-history", "connectors", "config", "pending-exports", "password-sync")


def _own_code(name: str) -> str:
    """The probe's own code after the inserted helpers, without comment lines, whitespace collapsed."""
    script = load_probe(name)
    helpers_end = script.text.index("#endregion entra-standby common helpers")
    own = script.text[helpers_end:].splitlines()[1:]
    return " ".join(" ".join(line for line in own if not line.strip().startswith("#")).split())


def test_x1_adsync_is_imported_with_the_install_folder_fallback() -> None:
    for name in ADSYNC_PROBES:
        script = load_probe(name)
        assert "Import-EsADSync" in command_names(script), name
        assert "Import-Module -Name ADSync" not in _own_code(name), name
    helpers = load_probe("scheduler").text
    body = helpers.split("function Import-EsADSync", 1)[1].split("\nfunction ", 1)[0]
    assert "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\ADSync\\Parameters" in body
    assert "'Bin\\ADSync\\ADSync.psd1'" in body and "throw $byName" in body


def test_x3_every_probe_but_access_refuses_constrained_language_first() -> None:
    for name in PROBE_NAMES + DRILL_PROBES:
        code = _own_code(name)
        starts = "try { $ErrorActionPreference = 'Stop' Assert-EsFullLanguage"
        assert (starts in code) is (name != "access"), name
    kind = load_probe("os").text.split("function Get-EsErrorKind", 1)[1]
    first = kind.split("$exception", 1)[0]  # the language mode is tested before any type test
    assert "LanguageMode -ne 'FullLanguage'" in first and "return 'ConstrainedLanguage'" in first


def test_x3_access_probe_avoids_what_constrained_language_refuses() -> None:
    code = _own_code("access")
    for refused in ("::", "New-Object", ".ToArray(", "Add-Type", "[System."):
        assert refused not in code.split("Write-EsEnvelope")[0].replace("::ExecutionContext", ""), refused
    assert "whoami.exe /groups /fo csv /nh" in code and "S-1-16-12288" in code


def test_o1_hotfix_dates_are_read_raw_as_en_us_and_future_dates_dropped() -> None:
    os_probe = load_probe("os").text
    assert "$fix.InstalledOn" not in os_probe  # the culture-parsed ETS property
    body = os_probe.split("function ConvertTo-EsHotFixDate", 1)[1].split("\n}\n", 1)[0]
    assert "psbase.Properties['InstalledOn'].Value" in body
    assert "GetCultureInfo('en-US')" in body and "FromFileTimeUtc" in body
    assert "$NowUtc.AddDays(1)" in body


def test_o5_reboot_markers_are_not_read_with_test_path() -> None:
    os_probe = load_probe("os")
    code = code_without_comments_and_strings(os_probe)
    reboot = code.split("$reboot", 1)[1]
    assert "Test-Path" not in reboot and "Test-EsKeyExists" in reboot
    assert "reboot_error" in os_probe.text
    exists = os_probe.text.split("function Test-EsKeyExists", 1)[1].split("\n}\n", 1)[0]
    assert "catch [System.Management.Automation.ItemNotFoundException]" in exists


def test_o6_update_rows_before_2000_are_skipped() -> None:
    loop = load_probe("os").text.split("QueryHistory", 1)[1].split("$updates.Add", 1)[0]
    assert "([datetime]$entry.Date).Year -lt 2000) { continue }" in loop


def test_r2_only_busy_run_states_count() -> None:
    run_history = load_probe("run-history").text
    busy = run_history.split("$busy =", 1)[1].split("$data", 1)[0]
    assert "[string]$_.RunState -eq 'Busy'" in busy


def test_v1_v2_uninstall_entries_in_both_views_and_of_this_product_only() -> None:
    version = load_probe("version").text
    assert "HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall" in version
    for excluded in ("'*Provisioning*'", "'*Authentication Agent*'", "'*Health*'"):
        assert f"$name -notlike {excluded}" in version
    assert "Publisher -eq 'Microsoft Corporation'" in version


def test_sv2_one_service_instance_by_its_real_name() -> None:
    service = load_probe("service").text
    assert "Get-CimInstance -ClassName Win32_Service -Filter $filter" in service
    assert "$filter = \"Name='\" + ([string]$service.Name -replace \"'\", \"''\") + \"'\"" in service


def test_item6_export_counters_read_in_both_shapes_for_the_newest_export_only() -> None:
    """probe-review §4 item 6 (issue 16): step counters of each connector's newest Export, flat or nested;
    neither shape reports the step's property names instead of zeros."""
    run_history = load_probe("run-history").text
    helper = run_history.split("function Get-EsExportCounters", 1)[1].split("$envelope =", 1)[0]
    assert "Get-ADSyncRunStepResult -RunHistoryId $RunHistoryId -ErrorAction Stop" in helper
    assert "Properties['ExportFailure']" in helper and "$step.ExportCounters" in helper
    assert "step properties:" in helper
    loop = run_history.split("$exportsSeen = @{}", 1)[1].split("$runs.Add(", 1)[0]
    assert "-eq 'Export' -and -not $exportsSeen.ContainsKey($connector)" in loop
    assert "Get-EsExportCounters" in loop and "catch" in loop  # an unreadable step is reported, not fatal


def test_item8_database_read_from_the_registry_in_both_shapes_and_the_mdf_looked_for() -> None:
    """probe-review §4 item 8 (issue 16): ADSync\\Parameters Server/SQLInstance/DBName raw (which one names
    "(localdb)" is settled in Python, both shapes); the LocalDB .mdf tried per build, the paths reported when
    none is found; a failed read never fails the version facts."""
    version = load_probe("version").text
    block = version.split("$database = [ordered]@{", 1)[1].split("$data =", 1)[0]
    assert "Services\\ADSync\\Parameters" in block
    assert all(f"-Name '{name}'" in block for name in ("Server", "SQLInstance", "DBName"))
    assert "$named.Contains('(localdb)')" in block and "[string]$database['sql_instance']" in block
    assert "($dbName + '.mdf')" in block and "-Recurse -Depth 1" in block
    assert "$database['data_file_error'] = 'no LocalDB data file found; looked at '" in block
    assert block.count("catch") == 2 and "registry_error'] =" in block.split("catch", 1)[1]
    assert "database = $database" in version


def test_issue16_point4_health_agent_services_read_on_their_own() -> None:
    """Connect Health sync agent (issue 16 point 4): both services by WQL filter, state, start mode and the
    binary's ProductVersion; a failed read is reported and never fails the machine facts."""
    machine = load_probe("machine").text
    block = machine.split("$healthAgent = New-Object", 1)[1].split("$data = [ordered]@{", 1)[0]
    assert "'AzureADConnectHealthSyncInsights', 'AzureADConnectHealthSyncMonitor'" in block
    assert "Get-CimInstance -ClassName Win32_Service -Filter" in block
    assert "$cim.State" in block and "$cim.StartMode" in block and "VersionInfo.ProductVersion" in block
    assert "catch" in block and "$healthAgentError =" in block.split("catch", 1)[1]
    assert "= [ordered]@{ services = @($healthAgent); error = $healthAgentError }" in machine


def test_item9_auto_upgrade_state_and_reason_read_without_risking_the_version() -> None:
    """probe-review §4 item 9 (issue 16): Get-ADSyncAutoUpgrade, -Detail only when Suspended, its reason read
    as a property or as a string beside the state; a failed read is reported, the version stands."""
    version = load_probe("version").text
    block = version.split("$autoUpgradeError = $null", 1)[1].split("$data =", 1)[0]
    assert "Import-EsADSync" in block and "[string](Get-ADSyncAutoUpgrade -ErrorAction Stop)" in block
    assert "if ($autoUpgrade -eq 'Suspended')" in block
    assert "Get-ADSyncAutoUpgrade -Detail -ErrorAction Stop" in block
    assert "'SuspensionReason'" in block and "$item -is [string]" in block
    assert "catch" in block and "$autoUpgradeError =" in block.split("catch", 1)[1]


def test_item2_proxies_read_each_on_its_own_from_machine_config_and_winhttp() -> None:
    """probe-review §4 item 2 (issue 16): machine.config defaultProxy and the WinHTTP proxy; an unreadable one
    is reported in its own *_error and never fails the machine facts."""
    machine = load_probe("machine").text
    config = machine.split("function Get-EsMachineConfigProxy", 1)[1]
    config = config.split("function Get-EsWinHttpProxy", 1)[0]
    assert "Framework64\\v4.0.30319\\Config\\machine.config" in config
    assert "SelectSingleNode('/configuration/system.net/defaultProxy')" in config
    winhttp = machine.split("function Get-EsWinHttpProxy", 1)[1].split("$envelope =", 1)[0]
    assert "Internet Settings\\Connections' -Name 'WinHttpSettings'" in winhttp
    assert "($flags -band 2)" in winhttp and "throw ('WinHttpSettings layout not recognised" in winhttp
    body = machine.split("$proxy = [ordered]@{", 1)[1].split("$healthAgent = New-Object", 1)[0]
    assert body.count("catch") == 2 and "machine_config_error" in body and "winhttp_error" in body


def test_item11_connector_overrides_read_on_their_own_by_the_scheduler_probe() -> None:
    """probe-review §4 item 11 (issue 16 point 8): Get-ADSyncSchedulerConnectorOverride read after the
    scheduler, by Microsoft's property names, an unknown shape refused with its property names; a failed read
    is reported and never fails the scheduler facts (no new probe: issue 13's cost per host)."""
    script = load_probe("scheduler")
    assert "Get-ADSyncSchedulerConnectorOverride" in command_names(script)
    block = script.text.split("$data = Get-EsSchedulerData", 1)[1].split("$envelope['data'] = $data", 1)[0]
    assert "@(Get-ADSyncSchedulerConnectorOverride -ErrorAction Stop)" in block
    assert "PSObject.Properties['FullImportRequired']" in block
    assert "PSObject.Properties['FullSyncRequired']" in block
    assert "@('ConnectorIdentifier', 'ConnectorId')" in block and "properties: ' + $names" in block
    assert "catch" in block and "$overridesError =" in block.split("catch", 1)[1]
    assert ("$data['connector_overrides'] = [ordered]@{ overrides = @($overrides); error = $overridesError }"
            in block)


def test_item5_entra_connector_identity_read_on_its_own_by_the_connectors_probe() -> None:
    """probe-review §4 item 5 (issue 16 point 9): Get-ADSyncEntraConnectorCredential's ConnectorIdentityType;
    for Application the certificate's expiry from the credential (both shapes) or LocalMachine\\My by
    thumbprint or SHA256 hash; a failure is reported and the connectors stand."""
    script = load_probe("connectors")
    assert "Get-ADSyncEntraConnectorCredential" in command_names(script)
    block = script.text.split("$identity = [ordered]@{", 1)[1].split("$data = [ordered]@{", 1)[0]
    assert "Get-ADSyncEntraConnectorCredential -ErrorAction Stop" in block
    assert "@('ConnectorIdentityType', 'IdentityType')" in block
    assert "if ($identity['identity_type'] -eq 'Application')" in block
    assert "'CertificateNotAfter', 'NotAfter'" in block and "$certificate.NotAfter" in block
    assert "Get-ChildItem -Path 'Cert:\\LocalMachine\\My'" in block and "GetRawCertData()" in block
    assert "ConvertTo-EsUtcString -Value $notAfter" in block
    assert "catch" in block and "$identity['error'] =" in block.split("catch", 1)[1]
    assert "entra_identity = $identity" in script.text
