/* migsvc: fabricd's Migrations service: start, follow, list and cancel
 * migrations (migcoord/migcoord.h).  Get asks the source's agent for the
 * last pre-copy round while it copies. */
#ifndef MIGSVC_H
#define MIGSVC_H

struct agents;
struct fx_err;
struct migcoord;
struct migsvc;
struct rpc_registry;

/* Creates the service over 'mc' and 'agents' (borrowed, must outlive
 * it). */
struct migsvc *migsvc_create(struct migcoord *mc, struct agents *agents);
/* NULL is a no-op. */
void migsvc_destroy(struct migsvc *);
/* Registers service Migrations on 'reg'. */
int migsvc_register(struct migsvc *, struct rpc_registry *reg,
                    struct fx_err *err);

#endif
