"""A subject's own orders (`self:order:read`): what they ordered, paid and may download.

Guarantees: only the account's own orders are shown; someone else's order answers 404 exactly
like one that does not exist; an order view holds no blind index and no staff id
(`orders.order_view`); reading them changes nothing and is not a query of credit data, so it
writes no query-log entry.
"""

from __future__ import annotations

import uuid

from app.services.billing.orders import OrderService, order_view
from app.services.outcomes import Answer, Answered, refusal_for
from app.services.querylog.attempt import Asker, Parts
from policies.actions import Action
from policies.decision import Decision, Relation, Target


class OwnOrders:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.orders = OrderService.of(parts.policy)

    def list(self, asker: Asker) -> Answer:
        decision = self._decide(asker, "own")
        if not decision.allowed or asker.account_id is None:
            return refusal_for(decision)
        with self.parts.unit() as db:
            orders = [order_view(o) for o in self.orders.list_own(db, asker.account_id)]
        return Answered({"orders": orders})

    def one(self, asker: Asker, order_id: uuid.UUID) -> Answer:
        if asker.account_id is None:
            return refusal_for(self._decide(asker, "other"))
        with self.parts.unit() as db:
            order = self.orders.get_own(db, order_id, asker.account_id)
            decision = self._decide(asker, "own" if order is not None else "other")
            if order is None or not decision.allowed:
                return refusal_for(decision)
            return Answered({"order": order_view(order)})

    def _decide(self, asker: Asker, relation: Relation) -> Decision:
        return self.parts.policy.decide(
            asker.caller,
            Action.SELF_ORDER_READ,
            Target(relation=relation),
            on=self.parts.clock.today(),
        )
