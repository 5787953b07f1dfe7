/*
id = "pod_in_system_namespace_by_person"
title = "Pod created in a system namespace by a person or from an unknown image"
description = "A pod was created in kube-system, kube-public or another system namespace either by a person (not a controller), or with images outside the platform's allow-list (privileged_images) whoever created it. System namespaces hold the cluster's most privileged workloads and service accounts; hand-made pods and unknown images there are unusual."
kind = "duet"
severity = "medium"
attack = ["T1611", "T1036.005"]
tags = ["pod-security"]
catalog = ["D39"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_pod_in_system_namespace.yml", "https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_pod_in_system_namespace.yml"]
false_positives = "Emergency fixes by the platform team."
first_action = "Did you expect {actor} to create pod {obj_namespace}/{obj_name} by hand in a system namespace?"
*/
SELECT *
FROM k8s_pod_writes
WHERE obj_resource = 'pods' AND verb = 'create' AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND (actor_class IN ('human', 'anonymous') OR NOT k8s_all_like(images, (SELECT array_agg(value) FROM allowlist WHERE list IN ('privileged_images', 'system_namespace_images'))))
  AND obj_namespace IN (SELECT value FROM allowlist WHERE list = 'system_namespaces')
