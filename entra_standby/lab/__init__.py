"""The lab: a simulated Entra Connect HA pair speaking real WS-Management + PSRP on loopback."""
