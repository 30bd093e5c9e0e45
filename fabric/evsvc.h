/* evsvc: fabricd's Events service: a subscriber's stream of what happens
 * in the fabric (events/events.h), replayed from where it left off. */
#ifndef EVSVC_H
#define EVSVC_H

struct events;
struct fx_err;
struct rpc_registry;

/* Registers service Events on 'reg' over 'events' (borrowed, must
 * outlive the registry), for operators. */
int evsvc_register(struct events *events, struct rpc_registry *reg,
                   struct fx_err *err);

#endif
