# entra-standby-action: set-sync-cycle
<#
.SYNOPSIS
  Turns the scheduler's sync cycle on or off, then returns the scheduler state as re-read after the change.
.NOTES
  Sources:
  - Set-ADSyncScheduler -SyncCycleEnabled (supported):
    https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler ;
    https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
  Scope: tenant-wide (probe-review A4). [SCHED] (the scheduler page above): "The scheduler configuration is stored in
  Microsoft Entra ID. If you have a staging server, any change on the primary server also affects the staging server
  (except IsStagingModeEnabled)." Turning the cycle off on one server therefore turns it off on its partner too; this
  action verifies the local server only, so the caller re-reads both servers.
  Allowed while a cycle runs: the switch only stops future cycles (a running one finishes; Stop-ADSyncSyncCycle
  would end it, [SCHED]).
  Output: one JSON envelope with "action" (docs/contracts.md section 2), data = the scheduler state (SchedulerFacts).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][bool]$Enabled
)

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

$envelope = New-EsEnvelope -Kind 'action' -Name 'set-sync-cycle'
try {
    $ErrorActionPreference = 'Stop'
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server (ADSync module)
    Import-EsADSync
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler
    # -ErrorAction Stop: a non-terminating failure must not go on to report success.
    $null = Set-ADSyncScheduler -SyncCycleEnabled $Enabled -ErrorAction Stop
    $data = Get-EsSchedulerData
    if ($data['sync_cycle_enabled'] -ne $Enabled) {
        throw ('the sync cycle switch did not change: Get-ADSyncScheduler still reports SyncCycleEnabled=' + [string]$data['sync_cycle_enabled'])
    }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsActionErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'action' -Name 'set-sync-cycle'
