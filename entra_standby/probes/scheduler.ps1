# entra-standby-probe: scheduler
<#
.SYNOPSIS
  Scheduler state of the sync engine: intervals (seconds), next cycle, the staging flag and the cycle switches.
.NOTES
  Sources:
  - Get-ADSyncScheduler properties: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler
  - ADSync module and cmdlet reference: https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
  - Get-ADSyncSchedulerConnectorOverride (no parameters: every override) is on that reference page; its output is
    only "System.Object". Microsoft's upgrade page loops over it reading .ConnectorIdentifier.Guid and clears
    FullImportRequired / FullSyncRequired (how-to-upgrade-previous-version, "override"), so those three names are
    read; ConnectorName is read when present. Anything else is refused with the object's property names
    (UNCONFIRMED beyond those three), so one real-server run settles the shape. Read on its own: a failed read
    sets connector_overrides.error and never fails the scheduler facts.
  Output: one JSON envelope (docs/contracts.md section 1), data = SchedulerFacts.
#>
[CmdletBinding()]
param()

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

$envelope = New-EsEnvelope -Kind 'probe' -Name 'scheduler'
try {
    $ErrorActionPreference = 'Stop'
    Assert-EsFullLanguage
    # ADSync module ships with Entra Connect and runs on the sync server itself:
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server
    Import-EsADSync
    $data = Get-EsSchedulerData
    $overrides = New-Object System.Collections.ArrayList
    $overridesError = $null
    try {
        foreach ($override in @(Get-ADSyncSchedulerConnectorOverride -ErrorAction Stop)) {
            if ($null -eq $override) { continue }
            $import = $override.PSObject.Properties['FullImportRequired']
            $sync = $override.PSObject.Properties['FullSyncRequired']
            if ($null -eq $import -and $null -eq $sync) {
                $names = @($override.PSObject.Properties | ForEach-Object { [string]$_.Name }) -join ', '
                throw ('Get-ADSyncSchedulerConnectorOverride returned an object without FullImportRequired or FullSyncRequired (properties: ' + $names + ')')
            }
            $row = [ordered]@{
                connector_identifier = ConvertTo-EsGuidString -Value (Get-EsProperty -Object $override -Names @('ConnectorIdentifier', 'ConnectorId'))
                connector_name       = ConvertTo-EsText -Value (Get-EsProperty -Object $override -Names @('ConnectorName'))
                full_import_required = $null
                full_sync_required   = $null
            }
            if ($null -ne $import) { $row['full_import_required'] = ConvertTo-EsBool -Value $import.Value }
            if ($null -ne $sync) { $row['full_sync_required'] = ConvertTo-EsBool -Value $sync.Value }
            [void]$overrides.Add($row)
        }
    }
    catch {
        $overridesError = [string](Get-EsErrorKind -ErrorRecord $_) + ': ' + [string]$_.Exception.Message
    }
    $data['connector_overrides'] = [ordered]@{ overrides = @($overrides); error = $overridesError }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'scheduler'
