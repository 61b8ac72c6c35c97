# entra-standby-action: write-canary
<#
.SYNOPSIS
  Writes a canary value into one extensionAttribute of one AD user found by userPrincipalName, so the drill can watch it
  reach Entra ID through the new active server's next export.
.NOTES
  Sources:
  - Get-ADUser -LDAPFilter / -Properties: https://learn.microsoft.com/powershell/module/activedirectory/get-aduser
  - Set-ADUser -Replace @{ attribute = value }: https://learn.microsoft.com/powershell/module/activedirectory/set-aduser
  - extensionAttribute1..15 reach Entra ID as the user's onPremisesExtensionAttributes:
    https://learn.microsoft.com/graph/api/resources/onpremisesextensionattributes
  - LDAP filter value escaping (\ * ( ) NUL as \xx): https://learn.microsoft.com/windows/win32/adsi/search-filter-syntax
  Needs the ActiveDirectory module (RSAT-AD-PowerShell) on the sync server: CommandNotFound otherwise.
  Double hop (entra-connect reference section 0): the write runs inside the remote session on the sync server and must
  reach a domain controller with the caller's credentials. Without Kerberos delegation (or CredSSP) it fails, typically
  "Unable to contact the server ... Active Directory Web Services" or access denied. That failure is this envelope's
  error, nothing else changes, and the drill then reports the canary as "not proven" instead of failing the switch.
  Output: one JSON envelope with "action" (docs/contracts.md section 2),
  data = {user, attribute, value, written_utc} with the value as read back after the write.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string]$UserPrincipalName,
    [Parameter(Mandatory)][ValidatePattern('^extensionAttribute([1-9]|1[0-5])$')][string]$Attribute,
    [Parameter(Mandatory)][string]$Value
)

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

function ConvertTo-EsLdapFilterValue {
    # RFC 4515 escaping, so a UPN can never change the filter's meaning.
    param([string]$Text)
    $builder = New-Object System.Text.StringBuilder
    foreach ($ch in $Text.ToCharArray()) {
        if ($ch -eq [char]'\' -or $ch -eq [char]'*' -or $ch -eq [char]'(' -or $ch -eq [char]')' -or [int]$ch -eq 0) {
            $null = $builder.Append('\' + ([int]$ch).ToString('x2'))
        }
        else {
            $null = $builder.Append($ch)
        }
    }
    return $builder.ToString()
}

$envelope = New-EsEnvelope -Kind 'action' -Name 'write-canary'
try {
    $ErrorActionPreference = 'Stop'
    # https://learn.microsoft.com/powershell/module/activedirectory/get-aduser (module ActiveDirectory)
    Import-Module -Name ActiveDirectory -ErrorAction Stop
    $filter = '(userPrincipalName=' + (ConvertTo-EsLdapFilterValue -Text $UserPrincipalName) + ')'
    $found = @(Get-ADUser -LDAPFilter $filter -ErrorAction Stop)
    if ($found.Count -eq 0) {
        throw ('no AD user has userPrincipalName ''' + $UserPrincipalName + ''' (Get-ADUser -LDAPFilter)')
    }
    if ($found.Count -gt 1) {
        throw ([string]$found.Count + ' AD users have userPrincipalName ''' + $UserPrincipalName + '''; the canary needs exactly one')
    }
    $replace = @{}
    $replace[$Attribute] = $Value
    # -ErrorAction Stop: a non-terminating write failure must not go on to report success.
    $null = Set-ADUser -Identity $found[0] -Replace $replace -ErrorAction Stop
    $written = [datetime]::UtcNow.ToString('o')
    $check = Get-ADUser -Identity $found[0] -Properties @($Attribute) -ErrorAction Stop
    $readBack = ConvertTo-EsText -Value (Get-EsProperty -Object $check -Names @($Attribute))
    if ($readBack -ne $Value) {
        throw ('the canary did not stick: ' + $Attribute + ' reads back as ''' + [string]$readBack + '''')
    }
    $envelope['data'] = [ordered]@{
        user        = ConvertTo-EsText -Value $check.UserPrincipalName
        attribute   = $Attribute
        value       = $readBack
        written_utc = $written
    }
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsActionErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'action' -Name 'write-canary'
