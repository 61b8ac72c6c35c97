# entra-standby-probe: version
<#
.SYNOPSIS
  Installed Entra Connect build: miiserver.exe ProductVersion, the uninstall entry's DisplayVersion, the install folder.
.NOTES
  Sources (entra-connect reference section 3.1):
  - Binaries in %ProgramFiles%\Microsoft Azure AD Sync\Bin (miiserver.exe):
    https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server
  - Install folder from the ADSync service ImagePath (HKLM:\SYSTEM\CurrentControlSet\Services\ADSync): how Windows
    registers services; miiserver.exe ProductVersion as *the* version source is UNCONFIRMED (community practice).
  - Uninstall entries HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\*: standard Windows mechanism;
    the display name changed with the rebrand, so it is matched with wildcards (exact name UNCONFIRMED).
    https://learn.microsoft.com/windows/win32/msi/uninstall-registry-key
  - Get-ADSyncAutoUpgrade [-Detail]: https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
    States Enabled / Disabled / Suspended, and "If the state is suspended, you can use Get-ADSyncAutoUpgrade -Detail
    to view the reason" (a string, usually an UpgradeResult such as UpgradeNotSupportedNonLocalDbInstall):
    https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-install-automatic-upgrade
    Without -Detail the cmdlet returns the state itself (community: ADOpsKit Get-EntraConnectSyncStatus.ps1).
    What -Detail returns is UNCONFIRMED: a SuspensionReason-like property, or strings besides the state; both
    are read. A failed read leaves the version standing and is reported as auto_upgrade_error.
  - Database: HKLM:\SYSTEM\CurrentControlSet\Services\ADSync\Parameters Server / SQLInstance / DBName (probe-review
    section 4 item 8; the same location Get-ADSyncDatabaseConfiguration reports, [ADSYNC]
    https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync , read from the registry so
    it answers without the sync service). LocalDB and its 10 GB limit:
    https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-install-prerequisites (SQL Server
    used by Microsoft Entra Connect: "SQL Server 2019 Express LocalDB ... has a 10-GB size limit").
    Which value names "(localdb)" is UNCONFIRMED: Server "(localdb)" with SQLInstance ".\ADSync2019", or
    "(localdb)\.\ADSync2019" in Server alone; both are reported raw and decided in Python. The data file's path
    is UNCONFIRMED per build (probe-review: "data file path UNVERIFIED"): <install>\Data\<instance>\<DBName>.mdf
    (2.x, ADSync2019) and <install>\Data\<DBName>.mdf (1.x) are tried, then <DBName>*.mdf one folder down;
    when none is found, data_file_error lists what was looked at. A failed read never fails the version facts.
  Output: one JSON envelope (docs/contracts.md section 1), data = VersionFacts.
#>
[CmdletBinding()]
param()

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

$envelope = New-EsEnvelope -Kind 'probe' -Name 'version'
try {
    $ErrorActionPreference = 'Stop'
    Assert-EsFullLanguage
    $binary = $null
    # Service ImagePath: "C:\Program Files\Microsoft Azure AD Sync\Bin\miiserver.exe" (quoted).
    $rawImagePath = Get-EsRegistryValue -Path 'HKLM:\SYSTEM\CurrentControlSet\Services\ADSync' -Name 'ImagePath'
    if ([string]$rawImagePath -ne '') {
        $imagePath = [Environment]::ExpandEnvironmentVariables([string]$rawImagePath)
        # Ordinal: String.StartsWith(string) compares with the current culture in .NET Framework. A quoted path
        # without its closing quote must not reach Substring with a negative length (that throws).
        $closing = $imagePath.IndexOf('"', 1)
        if ($imagePath.StartsWith('"', [System.StringComparison]::Ordinal) -and $closing -gt 1) {
            $imagePath = $imagePath.Substring(1, $closing - 1)
        }
        $binary = $imagePath.Trim('"')
    }
    if ($null -eq $binary -or -not (Test-Path -LiteralPath $binary)) {
        # Default location: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server
        $binary = Join-Path -Path $env:ProgramFiles -ChildPath 'Microsoft Azure AD Sync\Bin\miiserver.exe'
    }
    $productVersion = $null
    $installPath = $null
    if (Test-Path -LiteralPath $binary) {
        # Get-Item: https://learn.microsoft.com/powershell/module/microsoft.powershell.management/get-item
        $productVersion = [string](Get-Item -LiteralPath $binary).VersionInfo.ProductVersion
        $installPath = Split-Path -Path (Split-Path -Path $binary -Parent) -Parent
    }

    $displayVersion = $null
    # Uninstall entries: https://learn.microsoft.com/windows/win32/msi/uninstall-registry-key ; both views, since
    # where the bundle registers (64-bit or WOW6432Node) is UNCONFIRMED (probe-review V2). Only Microsoft's own
    # entries, and not the other products named "Microsoft Entra Connect ..." that may share the server: the
    # cloud sync provisioning agent, the PTA authentication agent, Connect Health (probe-review V1, names UNCONFIRMED).
    $uninstallKeys = @('HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall',
                       'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall')
    $entries = @($uninstallKeys | ForEach-Object { Get-ChildItem -LiteralPath $_ -ErrorAction SilentlyContinue } |
        ForEach-Object { Get-ItemProperty -LiteralPath $_.PSPath -ErrorAction SilentlyContinue } |
        Where-Object {
            $name = [string]$_.DisplayName
            ($name -like 'Microsoft Azure AD Connect' -or $name -like 'Microsoft Entra Connect*') -and
            $name -notlike '*Health*' -and $name -notlike '*synchronization services*' -and
            $name -notlike '*Provisioning*' -and $name -notlike '*Authentication Agent*' -and
            ([string]$_.Publisher -eq '' -or [string]$_.Publisher -eq 'Microsoft Corporation')
        })
    # An entry whose InstallLocation holds the service's binary first: it is the product that runs.
    $entries = @($entries | Where-Object { $null -ne $installPath -and [string]$_.InstallLocation -ne '' -and
                     $binary -like ([string]$_.InstallLocation).TrimEnd('\') + '*' }) +
               @($entries | Where-Object { -not ($null -ne $installPath -and [string]$_.InstallLocation -ne '' -and
                     $binary -like ([string]$_.InstallLocation).TrimEnd('\') + '*') })
    foreach ($entry in $entries) {
        if ([string]$entry.DisplayVersion -ne '') {
            $displayVersion = [string]$entry.DisplayVersion
            if ($null -eq $installPath -and [string]$entry.InstallLocation -ne '') { $installPath = [string]$entry.InstallLocation }
            break
        }
    }
    if ($null -eq $productVersion -and $null -eq $displayVersion) {
        throw (New-EsNotInstalledError -Message ('Entra Connect is not installed: ' + $binary + ' not found and no uninstall entry'))
    }
    $autoUpgrade = $null
    $autoUpgradeReason = $null
    $autoUpgradeError = $null
    try {
        # -ErrorAction Stop on the module call: its errors are non-terminating (see run-history.ps1).
        Import-EsADSync
        $autoUpgrade = [string](Get-ADSyncAutoUpgrade -ErrorAction Stop)
        if ($autoUpgrade -eq 'Suspended') {
            foreach ($item in @(Get-ADSyncAutoUpgrade -Detail -ErrorAction Stop)) {
                if ($null -eq $item) { continue }
                $named = Get-EsProperty -Object $item -Names @('SuspensionReason', 'AutoUpgradeSuspensionReason', 'Reason')
                if ($null -ne $named) { $autoUpgradeReason = [string]$named; break }
                if ($item -is [string] -and $item -ne '' -and $item -ne $autoUpgrade) { $autoUpgradeReason = $item; break }
            }
        }
    }
    catch {
        $autoUpgradeError = [string](Get-EsErrorKind -ErrorRecord $_) + ': ' + [string]$_.Exception.Message
    }
    $database = [ordered]@{ server = $null; sql_instance = $null; db_name = $null; data_file = $null
                            data_file_bytes = $null; registry_error = $null; data_file_error = $null }
    try {
        $parametersKey = 'HKLM:\SYSTEM\CurrentControlSet\Services\ADSync\Parameters'
        if (-not (Test-Path -LiteralPath $parametersKey)) { throw ($parametersKey + ' does not exist') }
        $database['server'] = ConvertTo-EsText -Value (Get-EsRegistryValue -Path $parametersKey -Name 'Server')
        $database['sql_instance'] = ConvertTo-EsText -Value (Get-EsRegistryValue -Path $parametersKey -Name 'SQLInstance')
        $database['db_name'] = ConvertTo-EsText -Value (Get-EsRegistryValue -Path $parametersKey -Name 'DBName')
    }
    catch {
        $database['registry_error'] = [string](Get-EsErrorKind -ErrorRecord $_) + ': ' + [string]$_.Exception.Message
    }
    $named = ([string]$database['server'] + ' ' + [string]$database['sql_instance']).ToLowerInvariant()
    if ($null -eq $database['registry_error'] -and $named.Contains('(localdb)')) {
        try {
            $dbName = [string]$database['db_name']
            if ($dbName -eq '') { $dbName = 'ADSync' }
            # The instance name is the last \-separated part of whichever value carries it (ADSync2019, ADSync).
            $instance = ([string]$database['sql_instance']).Trim()
            if ($instance -eq '' -or $instance.ToLowerInvariant() -eq '(localdb)') { $instance = [string]$database['server'] }
            $instance = @($instance.Split('\') | Where-Object { $_ -ne '' -and $_ -ne '.' -and $_ -ne '(localdb)' })[-1]
            $dataFolder = Join-Path -Path ([string]$installPath) -ChildPath 'Data'
            $candidates = @()
            if ([string]$instance -ne '') { $candidates += (Join-Path -Path (Join-Path -Path $dataFolder -ChildPath $instance) -ChildPath ($dbName + '.mdf')) }
            $candidates += (Join-Path -Path $dataFolder -ChildPath ($dbName + '.mdf'))
            $found = $null
            foreach ($candidate in $candidates) {
                if (Test-Path -LiteralPath $candidate -PathType Leaf) { $found = Get-Item -LiteralPath $candidate; break }
            }
            if ($null -eq $found -and (Test-Path -LiteralPath $dataFolder)) {
                # -Depth: Windows PowerShell 5.0+. The largest match, as the one that counts against the limit.
                $found = @(Get-ChildItem -LiteralPath $dataFolder -Filter ($dbName + '*.mdf') -Recurse -Depth 1 -File -ErrorAction SilentlyContinue |
                    Sort-Object -Property Length -Descending)[0]
            }
            if ($null -ne $found) {
                $database['data_file'] = [string]$found.FullName
                $database['data_file_bytes'] = [long]$found.Length
            }
            else {
                $database['data_file_error'] = 'no LocalDB data file found; looked at ' + ($candidates -join ', ') + ' and ' + $dbName + '*.mdf under ' + $dataFolder
            }
        }
        catch {
            $database['data_file_error'] = [string](Get-EsErrorKind -ErrorRecord $_) + ': ' + [string]$_.Exception.Message
        }
    }
    $data = [ordered]@{ product_version = $productVersion; display_version = $displayVersion; install_path = $installPath
                        auto_upgrade = $autoUpgrade; auto_upgrade_reason = $autoUpgradeReason
                        auto_upgrade_error = $autoUpgradeError; database = $database }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'version'
