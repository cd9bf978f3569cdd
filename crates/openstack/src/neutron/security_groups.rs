//! Security groups and their rules.

use super::{crud, resource};

resource! {
    SecurityGroupRule ["security_group_rule", "security_group_rules", "security-group-rules"] {
        id: String,
        description: String,
        tenant_id: String,
        project_id: String,
        security_group_id: String,
        direction: String,
        ethertype: String,
        protocol: String,
        port_range_min: i64,
        port_range_max: i64,
        remote_ip_prefix: String,
        remote_group_id: String,
    }
}

resource! {
    SecurityGroup ["security_group", "security_groups", "security-groups"] named {
        security_group_rules: Vec<SecurityGroupRule>,
    }
}

crud!(
    SecurityGroup,
    list_security_groups,
    get_security_group,
    create_security_group,
    create_security_groups,
    update_security_group,
    delete_security_group
);

crud!(
    SecurityGroupRule,
    list_security_group_rules,
    get_security_group_rule,
    create_security_group_rule,
    create_security_group_rules,
    update_security_group_rule,
    delete_security_group_rule
);
