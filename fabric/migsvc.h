/* migsvc: fabricd's Migrations service: start, follow, list and cancel
 * migrations (migcoord/migcoord.h), and change a running one's bandwidth
 * and downtime limits or force its completion, sent on to the source's
 * agent.  Get answers from the coordinator, whose statistics are at most
 * a poll (250 ms) old while the source copies. */
#ifndef MIGSVC_H
#define MIGSVC_H

struct agents;
struct fx_err;
struct migcoord;
struct migsvc;
struct rpc_registry;

/* Creates the service on 'base' over 'mc' and 'agents' (borrowed, must
 * outlive it).  A Cancel answers once the job is final (at most 30 s
 * later: then with the state it is in); the service is told by 'mc'
 * (migcoord_set_final_fn(), which it takes). */
struct event_base;
struct migsvc *migsvc_create(struct event_base *base, struct migcoord *mc,
                             struct agents *agents);
/* Answers the Cancels still waiting (their connections are gone by then:
 * destroy it after the RPC server).  NULL is a no-op. */
void migsvc_destroy(struct migsvc *);
/* Registers service Migrations on 'reg'. */
int migsvc_register(struct migsvc *, struct rpc_registry *reg,
                    struct fx_err *err);

#endif
