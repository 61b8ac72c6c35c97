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
  - Pending-reboot markers: community / Scripting Guy convention (UNCONFIRMED as a Microsoft statement). A marker
    that cannot be read fails the probe with AccessDenied (never "no reboot pending").
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

function Test-EsKeyExists {
    # True when the registry key exists. Test-Path returns $false for a key it may not read, so a non-admin
    # would read "no reboot pending" (probe-review O5); Get-Item fails loudly on access denied, and only "not
    # found" means absent (the same distinction Get-EsRegistryValue makes).
    param([string]$Path)
    try {
        $key = Get-Item -LiteralPath $Path -ErrorAction Stop
        $key.Close()
        return $true
    }
    catch [System.Management.Automation.ItemNotFoundException] {
        return $false
    }
}

function ConvertTo-EsHotFixDate {
    # Win32_QuickFixEngineering.InstalledOn is a string; Get-HotFix's InstalledOn property parses it with the
    # OS culture, so on a non-US server it is blank or has day and month swapped, often a date in the future
    # that would poison the whole os fact (probe-review O1, [KBUPD]). Production agents (AWS SSM, PRTG) re-parse
    # the raw string as en-US M/d/yyyy; older systems store a hexadecimal FILETIME instead. A date that is still
    # more than a day in the future after that is dropped ($null) here rather than failing the fact.
    # Win32_QuickFixEngineering: https://learn.microsoft.com/previous-versions/windows/desktop/legacy/aa394391(v=vs.85)
    param($HotFix, [datetime]$NowUtc)
    $raw = $null
    try { $raw = [string]$HotFix.psbase.Properties['InstalledOn'].Value } catch { $raw = $null }
    if ($null -eq $raw -or $raw.Trim() -eq '') { return $null }
    $raw = $raw.Trim()
    $parsed = [datetime]::MinValue
    $styles = [System.Globalization.DateTimeStyles]::AssumeUniversal -bor [System.Globalization.DateTimeStyles]::AdjustToUniversal
    $culture = [System.Globalization.CultureInfo]::GetCultureInfo('en-US')
    if (-not [datetime]::TryParse($raw, $culture, $styles, [ref]$parsed)) {
        if ($raw -notmatch '^[0-9A-Fa-f]{9,16}$') { return $null }
        try { $parsed = [datetime]::FromFileTimeUtc([Convert]::ToInt64($raw, 16)) } catch { return $null }
    }
    if ($parsed -gt $NowUtc.AddDays(1) -or $parsed.Year -lt 2000) { return $null }
    return ConvertTo-EsUtcString -Value $parsed -AssumeUtc
}

$envelope = New-EsEnvelope -Kind 'probe' -Name 'os'
try {
    $ErrorActionPreference = 'Stop'
    Assert-EsFullLanguage
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
                # Rows with an OLE zero date (1899-12-30) carry no install time; one would make the parser refuse
                # the whole os fact (dates before 2000), so skip them (probe-review O6, UNCONFIRMED they occur).
                if (([datetime]$entry.Date).Year -lt 2000) { continue }
                $updates.Add([ordered]@{
                    # IUpdateHistoryEntry::get_Date does not state a time zone; community code reads it as UTC
                    # (probe-review O2): hours of error at most, against a threshold of weeks.
                    date        = ConvertTo-EsUtcString -Value $entry.Date -AssumeUtc
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
    $nowUtc = [datetime]::UtcNow
    foreach ($fix in @(Get-HotFix -ErrorAction Stop)) {
        if ($null -eq $fix -or [string]$fix.HotFixID -eq '') { continue }
        $installedOn = ConvertTo-EsHotFixDate -HotFix $fix -NowUtc $nowUtc
        $hotfixes.Add([ordered]@{ id = [string]$fix.HotFixID; installed_on = $installedOn })
    }

    # Pending-reboot markers (community convention; each reliable on its own, PendingFileRename is a hint only).
    # A marker that cannot be read (a non-admin account, probe-review O5) leaves every marker unknown:
    # reboot_error says why and the pending-reboot check errors instead of reading "no reboot pending".
    $reboot = [ordered]@{}
    $rebootError = $null
    try {
        $cbs = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing'
        $sessionManager = 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager'
        $activeName = Get-EsRegistryValue -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\ActiveComputerName' -Name 'ComputerName'
        $pendingName = Get-EsRegistryValue -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName' -Name 'ComputerName'
        # -ne on strings is case-insensitive, as computer names are.
        $renamePending = ($null -ne $activeName -and $null -ne $pendingName -and [string]$activeName -ne [string]$pendingName)
        $reboot = [ordered]@{
            cbs_reboot_pending      = Test-EsKeyExists -Path (Join-Path -Path $cbs -ChildPath 'RebootPending')
            cbs_reboot_in_progress  = Test-EsKeyExists -Path (Join-Path -Path $cbs -ChildPath 'RebootInProgress')
            cbs_packages_pending    = Test-EsKeyExists -Path (Join-Path -Path $cbs -ChildPath 'PackagesPending')
            wu_reboot_required      = Test-EsKeyExists -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'
            pending_file_rename     = ((Test-EsValueSet -Path $sessionManager -Name 'PendingFileRenameOperations') -or
                                       (Test-EsValueSet -Path $sessionManager -Name 'PendingFileRenameOperations2'))
            computer_rename_pending = [bool]$renamePending
            netlogon_pending        = ((Test-EsValueSet -Path 'HKLM:\SYSTEM\CurrentControlSet\Services\Netlogon' -Name 'JoinDomain') -or
                                       (Test-EsValueSet -Path 'HKLM:\SYSTEM\CurrentControlSet\Services\Netlogon' -Name 'AvoidSpnSet'))
            update_exe_volatile     = (Test-EsValueSet -Path 'HKLM:\SOFTWARE\Microsoft\Updates' -Name 'UpdateExeVolatile' -NonZero)
        }
    }
    catch {
        $rebootError = (Get-EsErrorKind -ErrorRecord $_) + ': ' + [string]$_.Exception.Message
        $reboot = [ordered]@{}
        foreach ($marker in @('cbs_reboot_pending', 'cbs_reboot_in_progress', 'cbs_packages_pending', 'wu_reboot_required',
                              'pending_file_rename', 'computer_rename_pending', 'netlogon_pending', 'update_exe_volatile')) {
            $reboot[$marker] = $false
        }
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
        reboot_error         = $rebootError
    }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'os'
