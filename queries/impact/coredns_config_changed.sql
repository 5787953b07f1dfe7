/*
id = "coredns_config_changed"
title = "CoreDNS configuration changed"
description = "The coredns, kube-dns or coredns-custom ConfigMap in kube-system was changed or deleted by someone other than the DNS add-on or the cloud provider. Rewriting cluster DNS redirects service traffic to an attacker."
kind = "alert"
severity = "high"
attack = ["T1565.001", "T1557"]
tags = ["dns"]
catalog = ["D64"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/impact_kubernetes_coredns_or_kube_dns_configuration_modified.toml"]
false_positives = "DNS customisation by the platform team."
remediation = "Diff the ConfigMap against its last known version (kubectl get configmap -n kube-system {obj_name} -o yaml) and restore it."
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'configmaps' AND obj_namespace = 'kube-system' AND obj_name IN ('coredns', 'kube-dns', 'coredns-custom')
  AND verb IN ('update', 'patch', 'delete') AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
