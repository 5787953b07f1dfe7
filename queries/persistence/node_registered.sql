/*
id = "node_registered"
title = "New node registered"
description = "A Node object was created. On managed clusters nodes join through the cloud provider's node groups; a node registered by another identity (or not in the allowed_nodes list, when one is configured) may be an attacker-controlled machine joining the cluster to receive workloads and secrets."
kind = "duet"
severity = "medium"
attack = ["T1078", "T1098"]
tags = ["nodes"]
catalog = ["D30"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml"]
false_positives = "Autoscaling adds nodes constantly: kubelets registering themselves (system:node:* creating their own Node) are excluded; list node name patterns in allowed_nodes to also ask about unexpected names."
first_action = "Did you expect node {obj_name} to join the cluster (registered by {actor} from {source_ip})?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'nodes' AND obj_subresource IS NULL AND verb = 'create' AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND NOT (starts_with(coalesce(actor, ''), 'system:node:') AND actor = 'system:node:' || obj_name
           AND ((SELECT count(*) FROM allowlist WHERE list = 'allowed_nodes') = 0
                OR k8s_all_like(make_array(obj_name), (SELECT array_agg(value) FROM allowlist WHERE list = 'allowed_nodes'))))
