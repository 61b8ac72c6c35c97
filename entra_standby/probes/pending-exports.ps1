# entra-standby-probe: pending-exports
<#
.SYNOPSIS
  Pending export counts (adds, updates, deletes) per connector: what the first export would write.
.NOTES
  Sources (entra-connect reference section 7.3):
  - Get-ADSyncConnector: https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
  - Get-ADSyncConnectorStatistics -ConnectorName <name> -> ExportAdds, ExportUpdates, ExportDeletes: NOT in Microsoft's
    ADSync reference; exists in the module per community scripts. UNCONFIRMED. csexport /f:x is the authoritative detail:
    https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server
  Output: one JSON envelope (docs/contracts.md section 1), data = PendingExportsFacts.
#>
[CmdletBinding()]
param()

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

$envelope = New-EsEnvelope -Kind 'probe' -Name 'pending-exports'
try {
    $ErrorActionPreference = 'Stop'
    Assert-EsFullLanguage
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server (ADSync module)
    # -ErrorAction Stop on each module call as well: $ErrorActionPreference does not reach into script-module
    # functions, and a non-terminating error would leave a row out while the probe still said "ok".
    Import-EsADSync
    $rows = New-Object 'System.Collections.Generic.List[object]'
    # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
    foreach ($connector in @(Get-ADSyncConnector -ErrorAction Stop)) {
        # @(cmdlet) holds one $null element when a cmdlet writes $null: skip it, do not report a nameless row.
        if ($null -eq $connector) { continue }
        $name = [string]$connector.Name
        # UNCONFIRMED cmdlet (community): counts like the Connectors tab of Synchronization Service Manager.
        $statistics = Get-ADSyncConnectorStatistics -ConnectorName $name -ErrorAction Stop
        # A missing counter must not read as zero pending exports: fail loudly instead.
        foreach ($counter in @('ExportAdds', 'ExportUpdates', 'ExportDeletes')) {
            if ($null -eq $statistics -or $null -eq $statistics.PSObject.Properties[$counter]) {
                throw ('Get-ADSyncConnectorStatistics returned no ' + $counter + ' for connector ' + $name)
            }
        }
        $rows.Add([ordered]@{
            connector = $name
            adds      = [int64](Get-EsProperty -Object $statistics -Names @('ExportAdds'))
            updates   = [int64](Get-EsProperty -Object $statistics -Names @('ExportUpdates'))
            deletes   = [int64](Get-EsProperty -Object $statistics -Names @('ExportDeletes'))
        })
    }
    $data = [ordered]@{ connectors = $rows.ToArray(); source = 'Get-ADSyncConnectorStatistics' }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'pending-exports'
