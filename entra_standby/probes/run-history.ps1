# entra-standby-probe: run-history
<#
.SYNOPSIS
  Recent run-profile results (newest first) and the connectors that are busy now.
.NOTES
  Sources (entra-connect reference section 2):
  - Get-ADSyncRunProfileResult [-NumberRequested]: https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
    Output properties (RunHistoryId, ConnectorName, RunProfileName, Result, StartDate, EndDate, IsRunComplete) are from
    community scripts (jpazureid/aadconnect-diagnostic, Checkmk win_adsync): UNCONFIRMED.
  - Result strings: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-service-manager-ui-operations
  - Get-ADSyncConnectorRunStatus (empty when idle; ConnectorName, RunState when busy):
    https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler
  Output: one JSON envelope (docs/contracts.md section 1), data = RunHistoryFacts.
#>
[CmdletBinding()]
param(
    [int]$NumberRequested = 100
)

#region entra-standby common helpers (generated from probes/helpers/common.ps1 by scripts/sync-ps-helpers; do not edit here)
# Helper functions shared by every entra-standby probe and action (Windows PowerShell 5.1). Defining a function has
# no side effect, so every script carries all of them and calls the ones it needs.

function Get-EsErrorKind {
    # Maps an ErrorRecord onto the contract's error kinds: CommandNotFound, AccessDenied, NotInstalled, Failed.
    param($ErrorRecord)
    $exception = $ErrorRecord.Exception
    $category = [string]$ErrorRecord.CategoryInfo.Category
    $errorId = [string]$ErrorRecord.FullyQualifiedErrorId
    if ($exception -is [System.Management.Automation.CommandNotFoundException] -or $errorId -like 'Modules_ModuleNotFound*') {
        return 'CommandNotFound'
    }
    if ($category -eq 'NotInstalled') {
        return 'NotInstalled'
    }
    # 0x80070005 = E_ACCESSDENIED (COM and Win32 callers surface it as HResult)
    if ($exception -is [System.UnauthorizedAccessException] -or $exception -is [System.Security.SecurityException] -or
        $category -eq 'PermissionDenied' -or $category -eq 'SecurityError' -or $exception.HResult -eq -2147024891) {
        return 'AccessDenied'
    }
    return 'Failed'
}

function New-EsNotInstalledError {
    # An ErrorRecord in category NotInstalled, so Get-EsErrorKind reports NotInstalled.
    param([string]$Message)
    $exception = New-Object System.InvalidOperationException -ArgumentList $Message
    return New-Object System.Management.Automation.ErrorRecord -ArgumentList @(
        $exception, 'EntraStandby.NotInstalled', [System.Management.Automation.ErrorCategory]::NotInstalled, $null)
}

function ConvertTo-EsUtcString {
    # DateTime -> ISO 8601 UTC with seven fractional digits and Z; $null for missing or unparsable values.
    # -AssumeUtc: values that are documented as UTC but may carry DateTimeKind.Unspecified.
    param($Value, [switch]$AssumeUtc)
    if ($null -eq $Value) { return $null }
    if ($Value -is [System.DateTimeOffset]) { return $Value.UtcDateTime.ToString('o') }
    if ($Value -isnot [datetime]) {
        $parsed = [datetime]::MinValue
        $styles = [System.Globalization.DateTimeStyles]::AssumeUniversal
        if (-not [datetime]::TryParse([string]$Value, [System.Globalization.CultureInfo]::InvariantCulture, $styles, [ref]$parsed)) {
            return $null
        }
        $Value = $parsed
    }
    if ($Value -eq [datetime]::MinValue) { return $null }
    if ($AssumeUtc -and $Value.Kind -eq [System.DateTimeKind]::Unspecified) {
        $Value = [datetime]::SpecifyKind($Value, [System.DateTimeKind]::Utc)
    }
    return $Value.ToUniversalTime().ToString('o')
}

function ConvertTo-EsSeconds {
    # TimeSpan (or its string form) -> seconds as a number; $null when empty.
    param($Value)
    if ($null -eq $Value -or [string]$Value -eq '') { return $null }
    if ($Value -is [timespan]) { return $Value.TotalSeconds }
    return ([timespan]::Parse([string]$Value, [System.Globalization.CultureInfo]::InvariantCulture)).TotalSeconds
}

function ConvertTo-EsGuidString {
    # GUIDs are lower case without braces.
    param($Value)
    if ($null -eq $Value -or [string]$Value -eq '') { return $null }
    return ([string]$Value).Trim().Trim('{', '}').ToLowerInvariant()
}

function ConvertTo-EsBool {
    # bool, 'True'/'False', 1/0 -> bool; anything else -> $null.
    param($Value)
    if ($null -eq $Value) { return $null }
    if ($Value -is [bool]) { return $Value }
    $text = ([string]$Value).Trim()
    if ($text -eq 'True' -or $text -eq '1') { return $true }
    if ($text -eq 'False' -or $text -eq '0') { return $false }
    return $null
}

function Get-EsProperty {
    # The first non-empty property among Names: several property names are UNCONFIRMED and differ by build.
    param($Object, [string[]]$Names)
    if ($null -eq $Object) { return $null }
    foreach ($name in $Names) {
        $property = $Object.PSObject.Properties[$name]
        if ($null -ne $property -and $null -ne $property.Value -and [string]$property.Value -ne '') {
            return $property.Value
        }
    }
    return $null
}

function Get-EsNamedValue {
    # .Value of the item called Name in a keyed collection (ConnectivityParameters, GlobalSettings.Parameters);
    # falls back to enumerating when the collection has no string indexer.
    param($Collection, [string]$Name)
    if ($null -eq $Collection) { return $null }
    $item = $null
    try { $item = $Collection[$Name] } catch { $item = $null }
    if ($null -ne $item) {
        if ($null -ne $item.PSObject.Properties['Value']) { return $item.Value }
        if ($item -is [string] -or $item -is [System.ValueType]) { return $item }
    }
    foreach ($candidate in $Collection) {
        if ($null -ne $candidate -and [string]$candidate.Name -eq $Name) { return $candidate.Value }
    }
    return $null
}

function Get-EsSortedStrings {
    # Non-empty strings, ordinal-sorted (culture-independent, so both servers sort alike). Emits items:
    # callers wrap the call in @() to get an array.
    param($Value)
    $out = New-Object 'System.Collections.Generic.List[string]'
    foreach ($item in @($Value)) {
        if ($null -ne $item -and [string]$item -ne '') { $out.Add([string]$item) }
    }
    $sorted = $out.ToArray()
    [Array]::Sort($sorted, [System.StringComparer]::Ordinal)
    return $sorted
}

function New-EsEnvelope {
    # The envelope of docs/contracts.md (Kind 'probe' or 'action'), failed until the script says otherwise.
    param([string]$Kind, [string]$Name)
    $envelope = [ordered]@{}
    $envelope[$Kind] = $Name
    $envelope['schema'] = 1
    $envelope['ok'] = $false
    $envelope['data'] = $null
    $envelope['error'] = $null
    return $envelope
}

function Write-EsEnvelope {
    # The one output of the script. Serialisation itself must not throw either.
    param($Envelope, [string]$Kind, [string]$Name)
    try {
        return ConvertTo-Json -InputObject $Envelope -Depth 10 -Compress
    }
    catch {
        $fallback = New-EsEnvelope -Kind $Kind -Name $Name
        $fallback['error'] = [ordered]@{ kind = 'Failed'; message = 'could not serialise the result: ' + [string]$_.Exception.Message }
        return ConvertTo-Json -InputObject $fallback -Depth 10 -Compress
    }
}

function ConvertTo-EsText {
    # A string, or $null for missing and empty values.
    param($Value)
    if ($null -eq $Value -or [string]$Value -eq '') { return $null }
    return [string]$Value
}

function Get-EsSchedulerData {
    # Get-ADSyncScheduler: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler
    # (property table "Scheduler configuration"); cmdlet reference:
    # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
    $scheduler = Get-ADSyncScheduler
    $inProgress = $null
    # SyncCycleInProgress is not in the Learn property table (seen in a Microsoft blog's sample output): optional.
    if ($null -ne $scheduler.PSObject.Properties['SyncCycleInProgress'] -and $null -ne $scheduler.SyncCycleInProgress) {
        $inProgress = [bool]$scheduler.SyncCycleInProgress
    }
    return [ordered]@{
        allowed_interval_s     = ConvertTo-EsSeconds -Value $scheduler.AllowedSyncCycleInterval
        effective_interval_s   = ConvertTo-EsSeconds -Value $scheduler.CurrentlyEffectiveSyncCycleInterval
        customized_interval_s  = ConvertTo-EsSeconds -Value $scheduler.CustomizedSyncCycleInterval
        next_policy_type       = [string]$scheduler.NextSyncCyclePolicyType
        next_start_utc         = ConvertTo-EsUtcString -Value $scheduler.NextSyncCycleStartTimeInUTC -AssumeUtc
        purge_interval_s       = ConvertTo-EsSeconds -Value $scheduler.PurgeRunHistoryInterval
        sync_cycle_enabled     = [bool]$scheduler.SyncCycleEnabled
        maintenance_enabled    = [bool]$scheduler.MaintenanceEnabled
        staging_mode_enabled   = [bool]$scheduler.StagingModeEnabled
        scheduler_suspended    = [bool]$scheduler.SchedulerSuspended
        sync_cycle_in_progress = $inProgress
    }
}
#endregion entra-standby common helpers

$envelope = New-EsEnvelope -Kind 'probe' -Name 'run-history'
try {
    $ErrorActionPreference = 'Stop'
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server (ADSync module)
    Import-Module -Name ADSync
    # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
    $results = @(Get-ADSyncRunProfileResult -NumberRequested $NumberRequested)
    $runs = New-Object 'System.Collections.Generic.List[object]'
    foreach ($run in @($results | Sort-Object -Property StartDate -Descending)) {
        # A result row without a start time is not a run yet; it carries nothing a check could use.
        if ($null -eq $run -or $null -eq $run.StartDate) { continue }
        $runs.Add([ordered]@{
            run_history_id = ConvertTo-EsGuidString -Value $run.RunHistoryId
            connector      = [string]$run.ConnectorName
            profile        = [string]$run.RunProfileName
            result         = [string]$run.Result
            start          = ConvertTo-EsUtcString -Value $run.StartDate
            end            = ConvertTo-EsUtcString -Value $run.EndDate
            complete       = [bool]$run.IsRunComplete
        })
    }
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler
    $busy = @(Get-EsSortedStrings -Value @(Get-ADSyncConnectorRunStatus | ForEach-Object { $_.ConnectorName }))
    $data = [ordered]@{ runs = $runs.ToArray(); busy_connectors = $busy }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'run-history'
