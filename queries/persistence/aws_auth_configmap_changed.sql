/*
id = "aws_auth_configmap_changed"
title = "EKS aws-auth ConfigMap changed"
description = "The kube-system/aws-auth ConfigMap, which maps IAM roles and users to Kubernetes identities on EKS, was changed or deleted. Adding a mapping grants an AWS principal cluster access that survives Kubernetes credential rotation."
kind = "duet"
severity = "high"
attack = ["T1098.006"]
tags = ["eks", "identity"]
catalog = ["D29"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/persistence_kubernetes_eks_aws_auth_configmap_modified.toml", "https://github.com/aws/aws-eks-best-practices/blob/master/content/security/docs/detective.md"]
false_positives = "Node-group and access changes made by the platform team or EKS itself (eks:kms-storage-migrator excluded)."
first_action = "Did you expect {actor} to {verb} the aws-auth ConfigMap (who may access the cluster)?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'configmaps' AND obj_name = 'aws-auth' AND obj_namespace = 'kube-system'
  AND verb IN ('update', 'patch', 'delete') AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete' AND coalesce(actor, '') <> 'eks:kms-storage-migrator'
