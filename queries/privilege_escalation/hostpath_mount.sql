/*
id = "hostpath_mount"
title = "Pod mounts a host path"
description = "A pod or workload template mounts a directory or file of the node (hostPath) that is not one of the critical paths the sensitive_hostpath_critical alert covers. Host paths break the container boundary and are rarely needed by applications."
kind = "duet"
severity = "medium"
attack = ["T1611"]
tags = ["pod-security", "hostpath"]
catalog = ["D37"]
references = ["https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_pod_hostpath_volume.yml", "https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_hostpath_mount.yml"]
false_positives = "Log shippers and node agents mounting /var/log; add their images to privileged_images."
first_action = "Did you expect {actor} to mount host path(s) {mounted_host_paths} into {obj_resource} {obj_namespace}/{obj_name}?"
*/
SELECT *, array_to_string(host_paths, ' ') AS mounted_host_paths
FROM k8s_pod_writes
WHERE cardinality(host_paths) > 0
  AND array_to_string(host_paths, ' ') !~ '(^| )(/|(/etc|/proc|/root|/sys|/boot|/dev|/var/lib/kubelet|/var/lib/docker|/var/lib/containerd|/var/run|/run/containerd|/run/crio|/home/admin)(/[^ ]*)?|/run/docker\.sock|/var/run/docker\.sock|/run/containerd/containerd\.sock|/var/run/crio/crio\.sock|/var/run/cri-dockerd\.sock)/?( |$)'
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND NOT k8s_all_like(images, (SELECT array_agg(value) FROM allowlist WHERE list = 'privileged_images'))
  AND NOT (actor_class IN ('service_account', 'system_component', 'cloud_system', 'node') AND obj_namespace IN (SELECT value FROM allowlist WHERE list = 'system_namespaces'))
