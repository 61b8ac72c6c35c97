# entra-standby-probe: os
<#
.SYNOPSIS
  OS build and patch level: caption, build and UBR, last boot, Windows Update history, hotfixes, pending-reboot markers.
.NOTES
  Sources (entra-connect reference section 5):
  - HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion CurrentBuild, UBR, DisplayVersion, InstallationType
    (UBR = UNIFIEDBUILDREVISION_VALUE in the Windows SDK): https://learn.microsoft.com/windows/release-health/windows-server-release-info
  - Win32_OperatingSystem (Caption, LastBootUpTime): https://learn.microsoft.com/windows/win32/cimwin32prov/win32-operatingsystem
  - Windows Update history, IUpdateHistoryEntry (Date UTC, Title, Operation, ResultCode, HResult):
    https://learn.microsoft.com/windows/win32/api/wuapi/nn-wuapi-iupdatehistoryentry ;
    https://learn.microsoft.com/windows/win32/api/wuapi/ne-wuapi-operationresultcode
    The COM API may fail over WinRM (UNCONFIRMED): a failure sets update_history_error and the rest stays valid.
  - Get-HotFix (Win32_QuickFixEngineering; CBS updates only): https://learn.microsoft.com/powershell/module/microsoft.powershell.management/get-hotfix
  - Pending-reboot markers: community / Scripting Guy convention (UNCONFIRMED as a Microsoft statement).
  Output: one JSON envelope (docs/contracts.md section 1), data = OsFacts.
#>
[CmdletBinding()]
param(
    [int]$MaxUpdateHistory = 200
)

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

function Test-EsValueSet {
    # True when the registry value exists and is not empty (or, with -NonZero, not 0).
    param([string]$Path, [string]$Name, [switch]$NonZero)
    # @(): a REG_MULTI_SZ (PendingFileRenameOperations) arrives as separate strings, one of them as a scalar.
    $value = @(Get-EsRegistryValue -Path $Path -Name $Name)
    $set = @($value | Where-Object { $null -ne $_ -and [string]$_ -ne '' })
    if ($NonZero) { $set = @($set | Where-Object { [string]$_ -ne '0' }) }
    return ($set.Count -gt 0)
}

$envelope = New-EsEnvelope -Kind 'probe' -Name 'os'
try {
    $ErrorActionPreference = 'Stop'
    # https://learn.microsoft.com/windows/release-health/windows-server-release-info (build and UBR)
    $current = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion' -ErrorAction Stop
    $build = $current.CurrentBuild
    if ($null -eq $build -or [string]$build -eq '') { $build = $current.CurrentBuildNumber }
    $ubr = 0
    if ($null -ne $current.PSObject.Properties['UBR']) { $ubr = [int]$current.UBR }
    $displayVersion = [string]$current.DisplayVersion
    if ($displayVersion -eq '') { $displayVersion = [string]$current.ReleaseId }   # Server 2016/2019 have ReleaseId only
    if ($displayVersion -eq '') { $displayVersion = $null }
    $installationType = [string]$current.InstallationType
    if ($installationType -eq '') { $installationType = $null }

    # Win32_OperatingSystem: https://learn.microsoft.com/windows/win32/cimwin32prov/win32-operatingsystem
    # Get-CimInstance: https://learn.microsoft.com/powershell/module/cimcmdlets/get-ciminstance
    $os = Get-CimInstance -ClassName Win32_OperatingSystem -ErrorAction Stop
    # Older builds pad Caption with a trailing space; two otherwise equal servers must compare equal.
    $caption = ([string]$os.Caption).Trim()
    if ($caption -eq '') { $caption = [string]$current.ProductName }

    $updates = New-Object 'System.Collections.Generic.List[object]'
    $updateHistoryError = $null
    $session = $null
    try {
        # Microsoft.Update.Session / IUpdateSearcher.QueryHistory:
        # https://learn.microsoft.com/windows/win32/api/wuapi/nn-wuapi-iupdatehistoryentry
        $session = New-Object -ComObject 'Microsoft.Update.Session' -ErrorAction Stop
        $searcher = $session.CreateUpdateSearcher()
        $total = $searcher.GetTotalHistoryCount()
        $count = [Math]::Min([int]$total, [Math]::Max(0, $MaxUpdateHistory))
        if ($count -gt 0) {
            foreach ($entry in @($searcher.QueryHistory(0, $count))) {
                if ($null -eq $entry -or $null -eq $entry.Date) { continue }
                $updates.Add([ordered]@{
                    date        = ConvertTo-EsUtcString -Value $entry.Date -AssumeUtc   # documented as UTC
                    title       = [string]$entry.Title
                    # COM enums (OperationResultCode, UpdateOperation) arrive as Int32: keep them numbers.
                    operation   = [int]$entry.Operation
                    result_code = [int]$entry.ResultCode
                    hresult     = [int]$entry.HResult
                })
            }
        }
    }
    catch {
        $updates.Clear()
        # Get-EsErrorKind looks through the MethodInvocationException for the COM E_ACCESSDENIED.
        $updateHistoryError = (Get-EsErrorKind -ErrorRecord $_) + ': ' + [string]$_.Exception.Message
    }
    finally {
        # The runspace pool is reused for every probe of the run: release the COM session now, not at some GC.
        if ($null -ne $session) { $null = [System.Runtime.InteropServices.Marshal]::ReleaseComObject($session) }
    }

    # Get-HotFix: https://learn.microsoft.com/powershell/module/microsoft.powershell.management/get-hotfix
    $hotfixes = New-Object 'System.Collections.Generic.List[object]'
    foreach ($fix in @(Get-HotFix -ErrorAction Stop)) {
        if ($null -eq $fix -or [string]$fix.HotFixID -eq '') { continue }
        $installedOn = $null
        # InstalledOn is derived from a locale-dependent string and may be empty.
        try { $installedOn = ConvertTo-EsUtcString -Value $fix.InstalledOn } catch { $installedOn = $null }
        $hotfixes.Add([ordered]@{ id = [string]$fix.HotFixID; installed_on = $installedOn })
    }

    # Pending-reboot markers (community convention; each reliable on its own, PendingFileRename is a hint only).
    $cbs = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing'
    $sessionManager = 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager'
    $activeName = Get-EsRegistryValue -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\ActiveComputerName' -Name 'ComputerName'
    $pendingName = Get-EsRegistryValue -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName' -Name 'ComputerName'
    # -ne on strings is case-insensitive, as computer names are.
    $renamePending = ($null -ne $activeName -and $null -ne $pendingName -and [string]$activeName -ne [string]$pendingName)
    $reboot = [ordered]@{
        cbs_reboot_pending      = [bool](Test-Path -LiteralPath (Join-Path -Path $cbs -ChildPath 'RebootPending'))
        cbs_reboot_in_progress  = [bool](Test-Path -LiteralPath (Join-Path -Path $cbs -ChildPath 'RebootInProgress'))
        cbs_packages_pending    = [bool](Test-Path -LiteralPath (Join-Path -Path $cbs -ChildPath 'PackagesPending'))
        wu_reboot_required      = [bool](Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired')
        pending_file_rename     = ((Test-EsValueSet -Path $sessionManager -Name 'PendingFileRenameOperations') -or
                                   (Test-EsValueSet -Path $sessionManager -Name 'PendingFileRenameOperations2'))
        computer_rename_pending = [bool]$renamePending
        netlogon_pending        = ((Test-EsValueSet -Path 'HKLM:\SYSTEM\CurrentControlSet\Services\Netlogon' -Name 'JoinDomain') -or
                                   (Test-EsValueSet -Path 'HKLM:\SYSTEM\CurrentControlSet\Services\Netlogon' -Name 'AvoidSpnSet'))
        update_exe_volatile     = (Test-EsValueSet -Path 'HKLM:\SOFTWARE\Microsoft\Updates' -Name 'UpdateExeVolatile' -NonZero)
    }

    $data = [ordered]@{
        caption              = $caption
        build                = [int]$build
        ubr                  = $ubr
        display_version      = $displayVersion
        installation_type    = $installationType
        last_boot_utc        = ConvertTo-EsUtcString -Value $os.LastBootUpTime
        updates              = $updates.ToArray()
        update_history_error = $updateHistoryError
        hotfixes             = $hotfixes.ToArray()
        reboot               = $reboot
    }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'os'
