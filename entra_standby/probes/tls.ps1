# entra-standby-probe: tls
<#
.SYNOPSIS
  The eight TLS 1.2 registry values Entra Connect requires, and the .NET Framework 4.x Release number.
.NOTES
  Sources:
  - TLS 1.2 values (key, name, expected DWORD): https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-tls-enforcement
  - .NET release DWORD HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full Release:
    https://learn.microsoft.com/dotnet/framework/install/how-to-determine-which-versions-are-installed
  - Read directly, no Gallery module needed: Get-Item on the registry provider, then RegistryKey.GetValue
    (https://learn.microsoft.com/powershell/module/microsoft.powershell.management/get-item ;
    https://learn.microsoft.com/dotnet/api/microsoft.win32.registrykey.getvalue).
  - 64-bit process required: in a 32-bit session (e.g. the Microsoft.PowerShell32 endpoint) WOW64 redirects
    HKLM:\SOFTWARE\Microsoft to WOW6432Node, so the "64-bit" .NET values would silently be the 32-bit ones
    (https://learn.microsoft.com/windows/win32/winprog64/registry-redirector ;
    https://learn.microsoft.com/dotnet/api/system.environment.is64bitprocess).
  A missing key or value is null (the Learn check script prints "Not Found"); any other read failure fails the probe.
  Output: one JSON envelope (docs/contracts.md section 1), data = TlsFacts.
#>
[CmdletBinding()]
param()

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

function ConvertTo-EsRegistryNumber {
    # A registry number as Int64, $null when missing. DWORDs come back as Int32 (0xffffffff reads as -1 and stays
    # so); a value written as REG_SZ '1' is still a number. Anything else (REG_BINARY) fails with its name
    # rather than with PowerShell's bare "Cannot convert" message.
    param([string]$Path, [string]$Name, $Raw)
    if ($null -eq $Raw) { return $null }
    try {
        return [int64]$Raw
    }
    catch {
        throw ('registry value ' + $Path + '\' + $Name + ' is not a number: ' + [string]$Raw)
    }
}

$envelope = New-EsEnvelope -Kind 'probe' -Name 'tls'
try {
    $ErrorActionPreference = 'Stop'
    Assert-EsFullLanguage
    if (-not [Environment]::Is64BitProcess) {
        throw ('the remote session is a 32-bit process, where the registry redirector would read the WOW6432Node ' +
            'values twice; connect to the 64-bit Microsoft.PowerShell endpoint')
    }
    # The eight values of https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-tls-enforcement
    $wanted = @(
        @('HKLM:\SOFTWARE\WOW6432Node\Microsoft\.NETFramework\v4.0.30319', 'SystemDefaultTlsVersions'),
        @('HKLM:\SOFTWARE\WOW6432Node\Microsoft\.NETFramework\v4.0.30319', 'SchUseStrongCrypto'),
        @('HKLM:\SOFTWARE\Microsoft\.NETFramework\v4.0.30319', 'SystemDefaultTlsVersions'),
        @('HKLM:\SOFTWARE\Microsoft\.NETFramework\v4.0.30319', 'SchUseStrongCrypto'),
        @('HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server', 'Enabled'),
        @('HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server', 'DisabledByDefault'),
        @('HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Client', 'Enabled'),
        @('HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Client', 'DisabledByDefault')
    )
    $values = New-Object 'System.Collections.Generic.List[object]'
    foreach ($pair in $wanted) {
        $path = $pair[0]
        $name = $pair[1]
        # Missing key or value = null ("Not Found"); access denied fails the probe instead of reading as missing.
        $value = ConvertTo-EsRegistryNumber -Path $path -Name $name -Raw (Get-EsRegistryValue -Path $path -Name $name)
        $values.Add([ordered]@{ path = $path; name = $name; value = $value })
    }
    # https://learn.microsoft.com/dotnet/framework/install/how-to-determine-which-versions-are-installed
    $ndpPath = 'HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full'
    $release = ConvertTo-EsRegistryNumber -Path $ndpPath -Name 'Release' -Raw (Get-EsRegistryValue -Path $ndpPath -Name 'Release')
    $data = [ordered]@{ values = $values.ToArray(); dotnet_release = $release }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'tls'
