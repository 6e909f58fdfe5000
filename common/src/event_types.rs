//! The Event Streams event types falconry knows by name: the detection
//! summaries that become alerts, and the others the streamer counts. One list
//! for the streamer's metric labels, the enricher's selection and its line
//! pre-filter, so a new type is added once.

/// Endpoint detections (the current name).
pub const EPP: &str = "EppDetectionSummaryEvent";
/// Endpoint detections (an older spelling some tenants still send).
pub const EPP_UPPER: &str = "EPPDetectionSummaryEvent";
/// Identity Protection detections.
pub const IDP: &str = "IdpDetectionSummaryEvent";
/// Falcon Insight XDR detections.
pub const XDR: &str = "XdrDetectionSummaryEvent";
/// The legacy detection summary.
pub const LEGACY: &str = "DetectionSummaryEvent";
/// Incidents.
pub const INCIDENT: &str = "IncidentSummaryEvent";
/// Falcon Data Protection detections (data leaving the organisation).
pub const DATA_PROTECTION: &str = "DataProtectionDetectionSummaryEvent";
/// CrowdStrike Signal's automated leads.
pub const AUTOMATED_LEAD: &str = "AutomatedLeadSummaryEvent";
/// Custom IOC matches (an alert only when the operator selects it).
pub const CUSTOMER_IOC: &str = "CustomerIOCEvent";
/// Falcon OverWatch findings (an alert only when the operator selects it).
pub const OVERWATCH: &str = "OverwatchGenericDetectionSummaryEvent";

/// The detection summaries every enricher treats as alerts.
pub const ALERT_TYPES: [&str; 8] = [
    EPP,
    EPP_UPPER,
    IDP,
    XDR,
    LEGACY,
    INCIDENT,
    DATA_PROTECTION,
    AUTOMATED_LEAD,
];

/// Every type counted by name in the streamer's metrics (anything else is `other`).
pub const KNOWN: [&str; 16] = [
    EPP,
    EPP_UPPER,
    IDP,
    XDR,
    LEGACY,
    INCIDENT,
    DATA_PROTECTION,
    AUTOMATED_LEAD,
    "AuthActivityAuditEvent",
    "UserActivityAuditEvent",
    CUSTOMER_IOC,
    "RemoteResponseSessionStartEvent",
    "RemoteResponseSessionEndEvent",
    OVERWATCH,
    "FirewallMatchEvent",
    "IdentityProtectionEvent",
];

/// `event_type` itself when it is one of [`KNOWN`] (a closed set of metric labels), else `other`.
pub fn metric_label(event_type: &str) -> &'static str {
    KNOWN
        .iter()
        .find(|t| **t == event_type)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_types_are_known_and_labels_closed() {
        for t in ALERT_TYPES {
            assert!(KNOWN.contains(&t), "{t}");
            assert_eq!(metric_label(t), t);
        }
        assert_eq!(metric_label("SomethingNewEvent"), "other");
    }
}
