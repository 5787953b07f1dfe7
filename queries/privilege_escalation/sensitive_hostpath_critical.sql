/*
id = "sensitive_hostpath_critical"
title = "Pod mounts the node's root, /etc, /proc or a container-runtime socket"
description = "A pod or workload template mounts a host path that hands over the node: the root filesystem, /etc, /proc, /sys, /root, kubelet or runtime state, or the Docker/containerd/CRI-O socket. Any of these is a direct container escape. Directories match with everything below them (unlike Panther's list, which misses /etc itself)."
kind = "alert"
severity = "critical"
attack = ["T1611"]
tags = ["pod-security", "hostpath"]
catalog = ["D37"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_pod_hostpath_volume.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/privilege_escalation_pod_created_with_sensitive_hostpath_volume.toml"]
false_positives = "Node agents and CSI drivers mount kubelet directories by design: their images are in privileged_images and their controllers act in system namespaces, both excluded."
remediation = "Delete the workload (kubectl delete {obj_resource} -n {obj_namespace} {obj_name}) and investigate the node it ran on; treat node credentials as exposed."
*/
SELECT *, array_to_string(host_paths, ' ') AS mounted_host_paths
FROM k8s_pod_writes
WHERE array_to_string(host_paths, ' ') ~ '(^| )(/|(/etc|/proc|/root|/sys|/boot|/dev|/var/lib/kubelet|/var/lib/docker|/var/lib/containerd|/var/run|/run/containerd|/run/crio|/home/admin)(/[^ ]*)?|/run/docker\.sock|/var/run/docker\.sock|/run/containerd/containerd\.sock|/var/run/crio/crio\.sock|/var/run/cri-dockerd\.sock)/?( |$)'
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND NOT k8s_all_like(images, (SELECT array_agg(value) FROM allowlist WHERE list = 'privileged_images'))
  AND NOT (actor_class IN ('service_account', 'system_component', 'cloud_system', 'node') AND obj_namespace IN (SELECT value FROM allowlist WHERE list = 'system_namespaces'))
