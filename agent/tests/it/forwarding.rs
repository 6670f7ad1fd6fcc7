//! The forwarding module alone: what it remembers survives a restart of the agent.

use raftwire_agent::converge::forwarding::Forwarding;
use raftwire_agent::converge::Module;

use crate::support::*;

netns_test! {
    fn the_value_before_the_agent_is_put_back_after_a_restart() {
        let iface = test_link();
        let state = tempfile::tempdir().expect("state dir");
        let rt = runtime();
        let s = settings(&iface, state.path(), &rt);
        assert_eq!(sysctl(IPV4_FORWARD), "0");
        assert_eq!(sysctl(IPV6_FORWARD), "0");

        let mut first = Forwarding::new(&s);
        first.converge(&jump_config(Stack::Dual)).expect("converge");
        assert_eq!(sysctl(IPV4_FORWARD), "1");
        assert_eq!(sysctl(IPV6_FORWARD), "1");
        drop(first);

        // A new agent process: only the state directory remembers.
        let mut second = Forwarding::new(&s);
        second.converge(&jump_config(Stack::Ipv6)).expect("IPv6 only");
        assert_eq!(sysctl(IPV4_FORWARD), "0");
        assert_eq!(sysctl(IPV6_FORWARD), "1");
        second.remove().expect("remove");
        assert_eq!(sysctl(IPV6_FORWARD), "0");
        assert!(
            !state.path().join("forwarding.json").exists(),
            "nothing left to remember"
        );
    }
}

netns_test! {
    fn a_regular_peer_never_changes_forwarding() {
        let iface = test_link();
        let state = tempfile::tempdir().expect("state dir");
        let rt = runtime();
        let mut m = Forwarding::new(&settings(&iface, state.path(), &rt));
        set_sysctl(IPV4_FORWARD, "1");
        m.converge(&regular_config()).expect("converge");
        m.remove().expect("remove");
        assert_eq!(sysctl(IPV4_FORWARD), "1");
        assert_eq!(sysctl(IPV6_FORWARD), "0");
    }
}
