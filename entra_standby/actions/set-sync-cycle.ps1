# entra-standby-action: set-sync-cycle
<#
.SYNOPSIS
  Turns the scheduler's sync cycle on or off, then returns the scheduler state as re-read after the change.
.NOTES
  Sources:
  - Set-ADSyncScheduler -SyncCycleEnabled (supported):
    https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler ;
    https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
  Scheduler settings may be stored in the tenant and show up on the other server (UNCONFIRMED for SyncCycleEnabled):
  the caller re-reads both servers.
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
    Import-Module -Name ADSync -ErrorAction Stop
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
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'action' -Name 'set-sync-cycle'
