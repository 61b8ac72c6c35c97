"""Every command a probe or action runs, with the page that documents it.

The fidelity tests walk each script's syntax tree and require every command name (other than the script's own
helper functions) to be listed here with an https URL, so a script cannot grow an undocumented dependency.
Commands that Microsoft does not document carry the best available source and the word UNCONFIRMED.
"""

from __future__ import annotations

_ADSYNC = "https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync"
_SCHEDULER = "https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler"
_MGMT = "https://learn.microsoft.com/powershell/module/microsoft.powershell.management"
_UTILITY = "https://learn.microsoft.com/powershell/module/microsoft.powershell.utility"
_CORE = "https://learn.microsoft.com/powershell/module/microsoft.powershell.core"
_AD = "https://learn.microsoft.com/powershell/module/activedirectory"

KNOWN_COMMANDS: dict[str, str] = {
    # --- ADSync module (ships with Entra Connect) ---------------------------------------------------------
    "Get-ADSyncScheduler": _SCHEDULER,
    "Set-ADSyncScheduler": _SCHEDULER,
    "Start-ADSyncSyncCycle": _ADSYNC,
    "Get-ADSyncRunProfileResult": _ADSYNC,
    "Get-ADSyncRunStepResult": _ADSYNC,
    "Get-ADSyncAutoUpgrade": _ADSYNC,
    "Get-ADSyncConnectorRunStatus": _SCHEDULER,
    "Get-ADSyncConnector": _ADSYNC,
    # Listed on the reference page (output "System.Object"); property names from Microsoft's upgrade page.
    "Get-ADSyncSchedulerConnectorOverride": _ADSYNC,
    # Documented with ConnectorIdentityType (ServiceAccount | Application) on the ABA page, not the reference.
    "Get-ADSyncEntraConnectorCredential":
        "https://learn.microsoft.com/entra/identity/hybrid/connect/authenticate-application-id",
    # Not on Microsoft's ADSync reference page (probe-review X6); Microsoft's diagnostic script
    # Get-AADCDiagData (jpazureid/aadconnect-diagnostic) calls both with these parameter names.
    "Get-ADSyncAADPasswordSyncConfiguration":
        "https://github.com/jpazureid/aadconnect-diagnostic (not in Learn; output shape UNCONFIRMED)",
    "Get-ADSyncAADPasswordResetConfiguration":
        "https://github.com/jpazureid/aadconnect-diagnostic (not in Learn; output shape UNCONFIRMED)",
    # Microsoft's PHS troubleshooting script reads the tenant's feature flags with it (not in the reference).
    "Get-ADSyncAADCompanyFeature":
        "https://learn.microsoft.com/entra/identity/hybrid/connect/tshoot-connect-password-hash-synchronization",
    # Not in Microsoft's ADSync reference: community scripts only.
    "Get-ADSyncGlobalSettings": _ADSYNC + " (not listed there; community pattern, UNCONFIRMED)",
    "Set-ADSyncGlobalSettings": _ADSYNC + " (not listed there; community pattern, UNCONFIRMED)",
    "Get-ADSyncRule": "https://github.com/microsoft/AADConnectConfigDocumenter (not in Learn; UNCONFIRMED)",
    "Get-ADSyncConnectorStatistics": _ADSYNC + " (not listed there; community scripts, UNCONFIRMED)",
    "Get-ADSyncPartitionPasswordSyncState": _ADSYNC + " (not listed there; community output, UNCONFIRMED)",
    # --- ActiveDirectory (RSAT) ---------------------------------------------------------------------------
    "Get-ADUser": f"{_AD}/get-aduser",
    "Set-ADUser": f"{_AD}/set-aduser",
    # --- Windows PowerShell 5.1 built-ins -----------------------------------------------------------------
    "Import-Module": f"{_CORE}/import-module",
    "Get-Module": f"{_CORE}/get-module",
    "ForEach-Object": f"{_CORE}/foreach-object",
    "Where-Object": f"{_CORE}/where-object",
    "Get-Acl": "https://learn.microsoft.com/powershell/module/microsoft.powershell.security/get-acl",
    "Get-CimInstance": "https://learn.microsoft.com/powershell/module/cimcmdlets/get-ciminstance",
    "Get-ChildItem": f"{_MGMT}/get-childitem",
    "Get-HotFix": f"{_MGMT}/get-hotfix",
    "Get-Item": f"{_MGMT}/get-item",
    "Get-ItemProperty": f"{_MGMT}/get-itemproperty",
    "Get-Service": f"{_MGMT}/get-service",
    "Get-WinEvent": "https://learn.microsoft.com/powershell/module/microsoft.powershell.diagnostics/get-winevent",
    "Join-Path": f"{_MGMT}/join-path",
    "Split-Path": f"{_MGMT}/split-path",
    "Test-Path": f"{_MGMT}/test-path",
    "ConvertTo-Json": f"{_UTILITY}/convertto-json",
    "ConvertFrom-Csv": f"{_UTILITY}/convertfrom-csv",
    # --- Windows commands ------------------------------------------------------------------------------
    "whoami.exe": "https://learn.microsoft.com/windows-server/administration/windows-commands/whoami",
    "New-Object": f"{_UTILITY}/new-object",
    "Select-Object": f"{_UTILITY}/select-object",
    "Sort-Object": f"{_UTILITY}/sort-object",
}
"""Command name -> documentation URL (Microsoft Learn where Microsoft documents it)."""
