#pragma once
// The Kafka trigger (kinds "kafka-cluster" and "kafka"): a consumer group
// member that hands each partition's messages to the pool one at a time,
// in offset order, partitions in parallel, and commits an offset only when
// it and every earlier message of its partition were handled.
//
// Metrics, besides edgefn_events_total{trigger,result}:
// edgefn_kafka_rebalances_total{trigger,change="assigned"|"revoked"|"lost"},
// edgefn_kafka_commits_total{trigger,result="ok"|"failed"},
// edgefn_kafka_assigned_partitions{trigger}, edgefn_kafka_paused{trigger},
// edgefn_kafka_consumer_lag{trigger,topic,partition},
// edgefn_kafka_retries_total{trigger},
// edgefn_kafka_failed_events_total{trigger,outcome="dead_letter"|"skipped"}.
#include <memory>

#include "trigger/kafka/kafka_settings.hpp"
#include "trigger/trigger.hpp"

namespace edgefn {

std::unique_ptr<Trigger> make_kafka_trigger(const TriggerContext& context, kafka::KafkaSettings settings);

}  // namespace edgefn
