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
  - Get-ADSyncRunStepResult [-RunHistoryId]: https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
    Export counters are the MIIS run-history <export-counters> (export-add/-update/-rename/-delete/-delete-add/
    -failure): https://learn.microsoft.com/previous-versions/windows/desktop/forefront-2010/ms698397(v=vs.100).
    How the ADSync object model names them is UNCONFIRMED: read flat on the step (ExportAdd, ...) or nested under
    ExportCounters; when neither is there the step's property names are reported so a real server settles it.
  Output: one JSON envelope (docs/contracts.md section 1), data = RunHistoryFacts.
#>
[CmdletBinding()]
param(
    [int]$NumberRequested = 100
)

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

function Get-EsExportCounters {
    # The export counters summed over the run's steps, or a string saying why there are none.
    param($RunHistoryId)
    $names = [ordered]@{ add = 'ExportAdd'; update = 'ExportUpdate'; rename = 'ExportRename'
                         delete = 'ExportDelete'; delete_add = 'ExportDeleteAdd'; failure = 'ExportFailure' }
    # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
    $steps = @(Get-ADSyncRunStepResult -RunHistoryId $RunHistoryId -ErrorAction Stop)
    $sum = [ordered]@{}
    foreach ($key in $names.Keys) { $sum[$key] = 0 }
    $found = $false
    $seen = @()
    foreach ($step in $steps) {
        if ($null -eq $step) { continue }
        if ($seen.Count -eq 0) { $seen = @($step.PSObject.Properties | ForEach-Object { $_.Name }) }
        # Two shapes (UNCONFIRMED which one ADSync uses): flat on the step, or nested like <export-counters>.
        $holder = $step
        $flat = $null -ne $step.PSObject.Properties['ExportFailure']
        if (-not $flat -and $null -ne $step.PSObject.Properties['ExportCounters']) { $holder = $step.ExportCounters }
        if ($null -eq $holder -or $null -eq $holder.PSObject.Properties['ExportFailure']) { continue }
        $found = $true
        foreach ($key in $names.Keys) {
            $value = Get-EsProperty -Object $holder -Names @($names[$key])
            if ($null -ne $value) { $sum[$key] += [int]$value }
        }
    }
    if (-not $found) {
        $listed = @(Get-EsSortedStrings -Value $seen) -join ', '
        return ('no export counters on ' + [string]$steps.Count + ' step(s); step properties: ' + $listed)
    }
    return $sum
}

$envelope = New-EsEnvelope -Kind 'probe' -Name 'run-history'
try {
    $ErrorActionPreference = 'Stop'
    Assert-EsFullLanguage
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server (ADSync module)
    # -ErrorAction Stop on each module call as well: $ErrorActionPreference does not reach into script-module
    # functions, and a non-terminating error would read as "no runs" while the probe still said "ok".
    Import-EsADSync
    # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
    $results = @(Get-ADSyncRunProfileResult -NumberRequested $NumberRequested -ErrorAction Stop)
    $runs = New-Object 'System.Collections.Generic.List[object]'
    $exportsSeen = @{}
    foreach ($run in @($results | Sort-Object -Property StartDate -Descending)) {
        # A result row without a start time is not a run yet; it carries nothing a check could use.
        if ($null -eq $run -or $null -eq $run.StartDate) { continue }
        $counters = $null
        $countersError = $null
        # The newest Export of each connector only: one step read per connector, not one per row.
        $connector = [string]$run.ConnectorName
        if ([string]$run.RunProfileName -eq 'Export' -and -not $exportsSeen.ContainsKey($connector)) {
            $exportsSeen[$connector] = $true
            try {
                $counters = Get-EsExportCounters -RunHistoryId $run.RunHistoryId
                if ($counters -is [string]) { $countersError = $counters; $counters = $null }
            }
            catch {
                # A step that cannot be read leaves the run's result standing: reported, not fatal.
                $countersError = [string](Get-EsErrorKind -ErrorRecord $_) + ': ' + [string]$_.Exception.Message
            }
        }
        $runs.Add([ordered]@{
            run_history_id = ConvertTo-EsGuidString -Value $run.RunHistoryId
            connector      = [string]$run.ConnectorName
            profile        = [string]$run.RunProfileName
            result         = [string]$run.Result
            # Run times are UTC (MIIS run history: learn.microsoft.com/previous-versions/windows/desktop/forefront-2010/
            # ms697824; community code compares them with [DateTime]::UtcNow). Read from SQL they may carry
            # DateTimeKind.Unspecified, which ToUniversalTime() would take for local time and shift by the server's
            # UTC offset (probe-review R1; the Kind is UNCONFIRMED): -AssumeUtc, harmless when the Kind is Utc.
            start          = ConvertTo-EsUtcString -Value $run.StartDate -AssumeUtc
            end            = ConvertTo-EsUtcString -Value $run.EndDate -AssumeUtc
            complete       = [bool]$run.IsRunComplete
            export_counters       = $counters
            export_counters_error = $countersError
        })
    }
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler
    # @() around the call: one busy connector would otherwise be a bare string and none $null, not an array.
    # Empty when idle ([SCHED]); community code also tests RunState -eq 'Busy', so a row that carries another
    # RunState is not counted as busy, and a row without the property still is (probe-review R2).
    $busy = @(Get-EsSortedStrings -Value @(Get-ADSyncConnectorRunStatus -ErrorAction Stop |
        Where-Object { $null -eq $_.PSObject.Properties['RunState'] -or [string]$_.RunState -eq 'Busy' } |
        ForEach-Object { $_.ConnectorName }))
    $data = [ordered]@{ runs = $runs.ToArray(); busy_connectors = $busy }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'run-history'
