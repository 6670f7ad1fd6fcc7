//! The test kit itself: namespaces link, packets pass, and nothing is left behind.

use std::time::Duration;

use raftwire_tests::in_netns;
use raftwire_tests::netns::{link, sh, Netns};
use raftwire_tests::probe::ping_within;
use raftwire_tests::procs::Proc;

fn namespaces() -> String {
    sh("ip", &["netns", "list"])
}

#[test]
fn namespaces_link_with_both_families_and_are_removed_on_drop() {
    let Some(ctl) = in_netns!(namespaces_link_with_both_families_and_are_removed_on_drop) else {
        return;
    };
    let (a_name, b_name);
    // Declared outside the block: the namespaces go first, and must take the process along.
    let sleeper;
    {
        let a = Netns::new("h");
        let b = Netns::new("h");
        link(
            &a,
            &["10.201.0.1/24", "fd00:201::1/64"],
            &b,
            &["10.201.0.2/24", "fd00:201::2/64"],
        );
        assert!(ping_within(&a, "10.201.0.2", Duration::from_secs(5)));
        assert!(ping_within(&a, "fd00:201::2", Duration::from_secs(5)));
        // A process left running inside does not keep the namespace alive.
        let mut cmd = a.command("sleep");
        cmd.arg("600");
        let log = std::env::temp_dir().join(format!("{}-sleep.log", a.name));
        sleeper = Proc::spawn("sleep", cmd, log);
        (a_name, b_name) = (a.name.clone(), b.name.clone());
        assert!(namespaces().contains(&a_name));
    }
    let left = namespaces();
    let pid = sleeper.pid().expect("spawned").to_string();
    let ps = sh("ps", &["-o", "stat=", "-p", &pid]);
    assert!(
        ps.trim().is_empty() || ps.trim().starts_with('Z'),
        "the process inside survived: {ps}"
    );
    std::fs::remove_file(&sleeper.log).ok();
    assert!(!left.contains(&a_name) && !left.contains(&b_name), "{left}");
    assert!(left.contains(&ctl), "the test runs inside {ctl}: {left}");
}
