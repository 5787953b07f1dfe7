/*
id = "exec_cloud_metadata"
title = "Exec reaching the cloud instance-metadata service"
description = "A command run in a container through exec queried the cloud instance-metadata service (AWS IMDS, Azure IMDS, GCP metadata) \u2014 the classic way to steal the node's cloud credentials from inside a pod."
kind = "alert"
severity = "high"
attack = ["T1552.005", "T1609"]
tags = ["exec", "cloud-credentials"]
catalog = ["D14"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/credential_access_kubernetes_pod_exec_cloud_instance_metadata.toml"]
false_positives = "Rare: engineers checking instance metadata while debugging node problems. Pods should not need IMDS (block it with hop limit 1 on EKS or network policy)."
remediation = "Treat the node role as compromised: rotate its credentials, delete the pod (kubectl delete pod -n {obj_namespace} {obj_name}), and block pod access to 169.254.169.254."
*/
SELECT *
FROM k8s_exec
WHERE obj_subresource = 'exec' AND coalesce(stage, 'ResponseStarted') = 'ResponseStarted' AND coalesce(response_code, 101) < 400
  AND command ~ '(169\.254\.169\.254|2852039166|0xa9fea9fe|fd00:ec2::254|/latest/api/token|/latest/meta-data|/latest/user-data|/latest/dynamic/instance-identity|computeMetadata/v1|metadata\.google\.internal|metadata/identity/oauth2/token|metadata/instance)'
