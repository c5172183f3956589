//! The SIP trunk carrier: places calls on SIP trunks, runs their media, detects machines, bridges agents and records, behind carrier::Carrier.
