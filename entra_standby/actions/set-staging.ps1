# entra-standby-action: set-staging
<#
.SYNOPSIS
  Turns staging mode on or off, but refuses while a sync cycle runs or the scheduler is suspended, then returns the
  scheduler state as re-read after the change.
.NOTES
  Sources (entra-connect reference sections 1.2 and 12; probe-review A1, A3):
  - Get-ADSyncGlobalSettings / Set-ADSyncGlobalSettings with parameter Microsoft.Synchronize.StagingMode: NOT in
    Microsoft's ADSync reference; community pattern, UNCONFIRMED as supported. The documented, supported switch is the
    Entra Connect wizard: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server
  - The effect is verified by re-reading Get-ADSyncScheduler StagingModeEnabled:
    https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler
  Refusals, checked BEFORE anything is written (A1). [SCHED] (the scheduler page above): "When a sync cycle is running,
  you can't make configuration changes"; SchedulerSuspended is set by an open wizard or an upgrade and must not be
  overridden; Get-ADSyncConnectorRunStatus "returns an empty result if the sync engine is idle":
  - error kind Suspended: Get-ADSyncScheduler SchedulerSuspended is True;
  - error kind Busy: SyncCycleInProgress is True, or a connector's RunState is Busy.
  Lost update (A3): the global-settings object is written back whole. Its Version increments on each Set (community
  dump of the object, UNCONFIRMED), so it is read before the Set and re-read after: error kind Conflict when Version
  moved by more than this one write or another parameter changed meanwhile. The flag may then already be written:
  the caller re-reads both servers before going on.
  The caller (the drill) is responsible for ordering: never two un-staged servers.
  Output: one JSON envelope with "action" (docs/contracts.md section 2), data = the scheduler state (SchedulerFacts).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][bool]$Enabled
)

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

function Get-EsGlobalSettingValues {
    # Name -> value text of every global-settings parameter except the staging flag (what must not change).
    param($Settings)
    $values = @{}
    foreach ($candidate in @($Settings.Parameters)) {
        if ($null -eq $candidate) { continue }
        $name = [string]$candidate.Name
        if ($name -ne '' -and $name -ne 'Microsoft.Synchronize.StagingMode') { $values[$name] = [string]$candidate.Value }
    }
    return $values
}

$envelope = New-EsEnvelope -Kind 'action' -Name 'set-staging'
try {
    $ErrorActionPreference = 'Stop'
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server (ADSync module;
    # Import-EsADSync falls back to the install folder, probe-review X1)
    Import-EsADSync
    $before = Get-EsSchedulerData
    if ($before['scheduler_suspended'] -eq $true) {
        throw (New-EsRefusal -Kind 'Suspended' -Message ('refused: SchedulerSuspended is True on this server (an open Entra Connect wizard or an upgrade); ' +
            'close the wizard or let the upgrade finish, then try again'))
    }
    $busyMessage = 'refused: a sync cycle is running on this server (SyncCycleInProgress or a connector with RunState Busy); ' +
        'wait until Get-ADSyncConnectorRunStatus is empty, then try again'
    if ($before['sync_cycle_in_progress'] -eq $true) {
        throw (New-EsRefusal -Kind 'Busy' -Message $busyMessage)
    }
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler (RunState Busy: community output)
    foreach ($status in @(Get-ADSyncConnectorRunStatus -ErrorAction Stop)) {
        if ($null -ne $status -and [string]$status.RunState -eq 'Busy') {
            throw (New-EsRefusal -Kind 'Busy' -Message $busyMessage)
        }
    }
    # Community pattern (UNCONFIRMED): the parameter object is edited in place and the whole settings object written back,
    # with Get and Set back to back so the window for another writer is as short as it can be.
    $settings = Get-ADSyncGlobalSettings -ErrorAction Stop
    $versionBefore = Get-EsProperty -Object $settings -Names @('Version')
    $othersBefore = Get-EsGlobalSettingValues -Settings $settings
    $parameter = $null
    try { $parameter = $settings.Parameters['Microsoft.Synchronize.StagingMode'] } catch { $parameter = $null }
    if ($null -eq $parameter) {
        foreach ($candidate in $settings.Parameters) {
            if ($null -ne $candidate -and [string]$candidate.Name -eq 'Microsoft.Synchronize.StagingMode') { $parameter = $candidate; break }
        }
    }
    if ($null -eq $parameter) {
        throw 'global setting Microsoft.Synchronize.StagingMode not found on this build'
    }
    $parameter.Value = $Enabled.ToString()   # stored as the text True/False (Boolean.ToString is culture-free)
    # -ErrorAction Stop: a non-terminating write failure must not go on to report success.
    $null = Set-ADSyncGlobalSettings -GlobalSettings $settings -ErrorAction Stop
    $reread = Get-ADSyncGlobalSettings -ErrorAction Stop
    $versionAfter = Get-EsProperty -Object $reread -Names @('Version')
    $othersAfter = Get-EsGlobalSettingValues -Settings $reread
    $changed = New-Object 'System.Collections.Generic.List[string]'
    foreach ($name in @($othersBefore.Keys) + @($othersAfter.Keys)) {
        if ($changed.Contains([string]$name)) { continue }
        if (-not $othersBefore.ContainsKey($name) -or -not $othersAfter.ContainsKey($name) -or $othersBefore[$name] -ne $othersAfter[$name]) {
            $changed.Add([string]$name)
        }
    }
    # TryParse, not a cast: the write has happened, so an unexpected Version shape must not turn into "Failed".
    $versionMoved = $false
    $numberBefore = [long]0
    $numberAfter = [long]0
    if ([long]::TryParse([string]$versionBefore, [ref]$numberBefore) -and [long]::TryParse([string]$versionAfter, [ref]$numberAfter)) {
        $versionMoved = ($numberAfter -gt $numberBefore + 1)
    }
    if ($versionMoved -or $changed.Count -gt 0) {
        throw (New-EsRefusal -Kind 'Conflict' -Message ('another writer changed the global settings while staging was being set ' +
            '(Version ' + [string]$versionBefore + ' -> ' + [string]$versionAfter + '; changed: ' + ($changed.ToArray() -join ', ') +
            '); the staging flag may already be written: re-read both servers before going on'))
    }
    $data = Get-EsSchedulerData
    if ($data['staging_mode_enabled'] -ne $Enabled) {
        throw ('staging mode did not change: Get-ADSyncScheduler still reports StagingModeEnabled=' + [string]$data['staging_mode_enabled'])
    }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsActionErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'action' -Name 'set-staging'
