//! The starter rules shipped with falconry (`detect/rules/`), embedded so
//! `falconry demo` and `falconry rules init` work without the source tree.
//! A test checks the folder and this list agree.

use crate::rules::{RuleFile, is_test_file};

/// `(file name, text)` of every rule and test file.
pub const FILES: &[(&str, &str)] = &[
    (
        "dns_dynamic_dns_domain.tests.yml",
        include_str!("../rules/dns_dynamic_dns_domain.tests.yml"),
    ),
    (
        "dns_dynamic_dns_domain.yml",
        include_str!("../rules/dns_dynamic_dns_domain.yml"),
    ),
    (
        "drive_letter_system_binary_renamed.tests.yml",
        include_str!("../rules/drive_letter_system_binary_renamed.tests.yml"),
    ),
    (
        "drive_letter_system_binary_renamed.yml",
        include_str!("../rules/drive_letter_system_binary_renamed.yml"),
    ),
    (
        "linux_reverse_shell.tests.yml",
        include_str!("../rules/linux_reverse_shell.tests.yml"),
    ),
    (
        "linux_reverse_shell.yml",
        include_str!("../rules/linux_reverse_shell.yml"),
    ),
    (
        "network_common_c2_ports.tests.yml",
        include_str!("../rules/network_common_c2_ports.tests.yml"),
    ),
    (
        "network_common_c2_ports.yml",
        include_str!("../rules/network_common_c2_ports.yml"),
    ),
    (
        "office_spawns_script_host.tests.yml",
        include_str!("../rules/office_spawns_script_host.tests.yml"),
    ),
    (
        "office_spawns_script_host.yml",
        include_str!("../rules/office_spawns_script_host.yml"),
    ),
    (
        "powershell_encoded_command.tests.yml",
        include_str!("../rules/powershell_encoded_command.tests.yml"),
    ),
    (
        "powershell_encoded_command.yml",
        include_str!("../rules/powershell_encoded_command.yml"),
    ),
    (
        "rundll32_user_writable_dll.tests.yml",
        include_str!("../rules/rundll32_user_writable_dll.tests.yml"),
    ),
    (
        "rundll32_user_writable_dll.yml",
        include_str!("../rules/rundll32_user_writable_dll.yml"),
    ),
    (
        "whoami_discovery.tests.yml",
        include_str!("../rules/whoami_discovery.tests.yml"),
    ),
    (
        "whoami_discovery.yml",
        include_str!("../rules/whoami_discovery.yml"),
    ),
];

/// The rule files and the test files.
pub fn files() -> (Vec<RuleFile>, Vec<RuleFile>) {
    let (tests, rules): (Vec<RuleFile>, Vec<RuleFile>) = FILES
        .iter()
        .map(|(name, text)| RuleFile {
            name: (*name).to_owned(),
            text: (*text).to_owned(),
        })
        .partition(|f| is_test_file(&f.name));
    (rules, tests)
}

/// Writes the starter set into `dir` (created if needed).
pub fn write_to(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in FILES {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_and_the_list_agree() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        let listed: Vec<String> = FILES.iter().map(|(n, _)| (*n).to_owned()).collect();
        assert_eq!(on_disk, listed);
    }

    #[test]
    fn every_starter_rule_loads_lints_and_passes_its_tests() {
        let (rules, tests) = files();
        let report = crate::testing::run(&rules, &tests);
        assert!(!report.failed(), "{report}");
        assert!(report.untested.is_empty(), "{report}");
        assert_eq!(report.loaded.rules.len(), rules.len());
        assert!(report.cases.len() >= 2 * rules.len(), "{report}");
    }
}
