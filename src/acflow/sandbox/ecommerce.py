"""Profiles of e-commerce (Deep Data): connections, customers, orders, their products and history.

Money is in the currency's smallest unit (cents). Quirks kept from the reference's examples:
the orders list sends prices, counts and `state` as JSON numbers (by id they are strings) and
upper-case currencies; the products list has no `meta`; a customer of no connection has
connectionid "0" and `connection` null. An order's `orderProducts` lists its products' ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from acflow.sandbox.gen import ADJECTIVES, ANIMALS, slug
from acflow.sandbox.people import contact_emails
from acflow.sandbox.profile import Batch, Profile, strs
from acflow.sandbox.relate import aux_of, children_of, refs, runs

STORES = [("shopify", "Acme Store", "acme-store.myshopify.com"), ("woocommerce", "Globex Shop", "shop.globex.com"),
          ("bigcommerce", "Initech Outlet", "initech.mybigcommerce.com"), ("fooCommerce", "Hooli Market", "hooli")]
CATEGORIES = ["Electronics", "Books", "Skateboards", "Apparel", "Home", "Toys"]
ORDER_CURRENCIES = ["USD", "USD", "EUR", "JPY"]


class Connections(Profile):
    """Store connections; the first is ActiveCampaign's own (isInternal "1")."""

    name = "connections"
    noun = "Connection"
    default_size = 3
    links = ("customers",)

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        synced = r.chance(ids, "synced", 0.7).tolist()
        lst = strs(refs(r, ids, "list", w.sizes["lists"], none=0.5))
        cdate, udate = b.iso(b.ctime), b.iso(b.utime)
        out = []
        for i, rid in enumerate(b.ids):
            service, name, external = STORES[(rid - 1) % len(STORES)]
            out.append({
                "service": service, "externalid": external, "name": name if rid <= len(STORES) else f"{name} {rid}",
                "isInternal": "1" if rid == 1 else "0", "status": "1", "syncStatus": "0",
                "lastSync": udate[i] if synced[i] else None,
                "logoUrl": "" if rid == 1 else f"https://example.com/i/{service}.png",
                "linkUrl": "" if rid == 1 else f"https://{external}/", "listId": lst[i], "cdate": cdate[i],
                "udate": udate[i], "links": {"customers": f"/api/3/connections/{rid}/customers"}, "id": b.sids[i],
            })
        return out


class EcomCustomers(Profile):
    """Customers per connection with revenue totals; ~5% aggregate ones of no connection."""

    name = "ecomCustomers"
    noun = "EcomCustomer"
    default_size = 120
    links = ("connection", "orders")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids, v = b.world, b.id_arr, b.version.astype(np.int64)
        r = w.rand(self.name)
        conn = np.where(r.chance(ids, "none", 0.05), 0, refs(r, ids, "connection", w.sizes["connections"])).tolist()
        email = contact_emails(w, refs(r, ids, "contact", w.sizes["contacts"]))
        orders = r.ints(ids, "orders", 6, 1) + v
        revenue = orders * r.ints(ids, "avg", 20_000, 500)
        products = orders + r.ints(ids, "extra", 4)
        category = r.pick(ids, "category", CATEGORIES)
        marketing = r.chance(ids, "marketing", 0.6).tolist()
        tstamp = b.iso(b.utime)
        out = []
        for i in range(len(b.ids)):
            c = conn[i]
            out.append({
                "connectionid": str(c), "externalid": str(40_000 + b.ids[i]) if c else "0",
                "email": email[i] or f"customer{b.ids[i]}@example.com", "totalRevenue": str(revenue[i]),
                "totalOrders": str(orders[i]), "totalProducts": str(products[i]),
                "avgRevenuePerOrder": str(revenue[i] // orders[i]), "avgProductCategory": category[i],
                "tstamp": tstamp[i], "acceptsMarketing": "1" if marketing[i] else "0",
                "links": {"connection": f"/api/3/ecomCustomers/{b.ids[i]}/connection",
                          "orders": f"/api/3/ecomCustomers/{b.ids[i]}/orders"},
                "id": b.sids[i], "connection": str(c) if c else None,
            })
        return out


class EcomOrders(Profile):
    """Orders: JSON numbers for prices, counts and `state` (the list's quirk), upper-case currency;
    ~15% abandoned carts (state 2, abandonedDate set). An update completes a pending order."""

    name = "ecomOrders"
    noun = "EcomOrder"
    default_size = 250
    links = ("connection", "customer", "orderProducts", "orderDiscounts", "orderActivities")

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        r = world.rand(self.name)
        u = r.unit(ids, "state")
        state = np.where(u < 0.1, 0, np.where(u < 0.25, 2, np.where(u < 0.3, 3, np.where(u < 0.33, 4, 1))))
        return {"customer": refs(r, ids, "customer", world.sizes["ecomCustomers"]), "state": state.astype(np.int64)}

    def on_update(self, world, table, rows: np.ndarray) -> None:
        state = table.aux["state"]
        state[rows] = np.where(state[rows] == 0, 1, state[rows])

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        customer, state = b.aux("customer").tolist(), b.aux("state").tolist()
        conn = refs(r, ids, "connection", w.sizes["connections"]).tolist()
        email = contact_emails(w, refs(r, ids, "contact", w.sizes["contacts"]))
        cur = r.ints(ids, "currency", len(ORDER_CURRENCIES)).tolist()
        price = r.ints(ids, "price", 40_000, 800)
        ship, tax = r.ints(ids, "ship", 3) * 250, price * 8 // 100
        disc = np.where(r.chance(ids, "disc", 0.2), price // 10, 0)
        method = r.pick(ids, "method", ["UPS Ground", "DHL Express", "Free shipping", "Pickup"])
        external = b.ctime - r.ints(ids, "ext", 3600, 5)
        ext, created, updated = b.iso(external), b.iso(b.ctime), b.iso(b.utime)
        total, n_orders = w.sizes["ecomOrderProducts"], w.sizes[self.name]
        out = []
        for i, rid in enumerate(b.ids):
            products = [str(p) for p in children_of(rid, total, n_orders)] if rid <= n_orders else []
            currency = ORDER_CURRENCIES[cur[i]]
            out.append({
                "externalid": str(3_246_315_000 + rid), "externalcheckoutid": None if state[i] != 2 else f"chk{rid}",
                "orderNumber": str(100_000 + rid), "source": "1", "email": email[i] or f"buyer{rid}@example.com",
                "currency": currency, "connectionid": str(conn[i]), "customerid": str(customer[i]),
                "orderUrl": f"https://example.com/orders/{100_000 + rid}", "shippingMethod": method[i],
                "totalPrice": int(price[i] + ship[i] + tax[i] - disc[i]), "shippingAmount": int(ship[i]),
                "taxAmount": int(tax[i]), "discountAmount": int(disc[i]), "externalCreatedDate": ext[i],
                "externalUpdatedDate": updated[i], "abandonedDate": updated[i] if state[i] == 2 else None,
                "totalProducts": len(products) or 1, "createdDate": created[i], "updatedDate": updated[i],
                "state": state[i], "connection": str(conn[i]), "orderProducts": products,
                "customer": str(customer[i]), "orderDate": ext[i], "tstamp": updated[i],
                "links": self.link_objects(w, [b.sids[i]])[0], "id": b.sids[i],
            })
        return out


class EcomOrderProducts(Profile):
    """The products of each order in a run under it; prices in cents; no `meta` in the list."""

    name = "ecomOrderProducts"
    noun = "EcomOrderProduct"
    default_size = 600
    scale = ("ecomOrders", 2.4, 100_000)
    updated_share = 0.05
    links = ("ecomOrder",)
    depends = ("ecomOrders",)

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        order, _ = runs(ids, world.sizes[self.name], world.sizes["ecomOrders"], world.rand(self.name), "op")
        return {"order": order}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        order = b.aux("order")
        conn = refs(w.rand("ecomOrders"), order, "connection", w.sizes["connections"]).tolist()
        adj, animal = r.pick(ids, "adj", ADJECTIVES), r.pick(ids, "animal", ANIMALS)
        category = r.pick(ids, "category", CATEGORIES)
        price, qty = strs(r.ints(ids, "price", 20_000, 300) // 100 * 100 - 1), strs(r.ints(ids, "qty", 4, 1))
        cdate, udate = b.iso(b.ctime), b.iso(b.utime)
        order_l = order.tolist()
        out = []
        for i in range(len(b.ids)):
            name = f"{adj[i]} {animal[i]} {category[i][:-1] if category[i].endswith('s') else category[i]}"
            o = str(order_l[i])
            out.append({
                "orderid": o, "connectionid": str(conn[i]), "externalid": str(1_269_385_000 + b.ids[i]),
                "sku": f"{slug(animal[i]).upper()[:5]}-{b.ids[i]}", "name": name,
                "description": f"The {name.lower()} everybody talks about", "price": price[i], "quantity": qty[i],
                "category": category[i].lower(), "imageUrl": f"https://example.com/images/{slug(name)}.jpg",
                "productUrl": f"http://example.com/products/{slug(name)}", "createdDate": cdate[i],
                "updatedDate": udate[i], "tstamp": udate[i],
                "links": self.link_objects(w, [b.sids[i]])[0], "id": b.sids[i], "ecomOrder": o,
            })
        return out


class EcomOrderActivities(Profile):
    """Each change of an order (created, paid, abandoned...), as the order looked then."""

    name = "ecomOrderActivities"
    noun = "EcomOrderActivity"
    default_size = 375
    scale = ("ecomOrders", 1.5, 100_000)
    updated_share = 0.0
    links = ("connection", "order")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        order = refs(r, ids, "order", w.sizes["ecomOrders"])
        o = w.rand("ecomOrders")
        conn = refs(o, order, "connection", w.sizes["connections"]).tolist()
        customer, state = aux_of(w, "ecomOrders", order, "customer").tolist(), r.ints(ids, "state", 5).tolist()
        price = r.ints(ids, "price", 40_000, 800).tolist()
        email = contact_emails(w, refs(o, order, "contact", w.sizes["contacts"]))
        cdate = b.iso(b.ctime)
        order_l = order.tolist()
        out = []
        for i in range(len(b.ids)):
            store, _, external = STORES[(conn[i] - 1) % len(STORES)]
            out.append({
                "orderid": str(order_l[i]), "connectionid": str(conn[i]), "customerid": str(customer[i]),
                "externalid": str(3_246_315_000 + order_l[i]), "externalcheckoutid": None, "source": "1",
                "orderNumber": str(100_000 + order_l[i]), "email": email[i] or f"buyer{order_l[i]}@example.com",
                "totalPrice": str(price[i]), "discountAmount": "0", "shippingAmount": "0", "taxAmount": "0",
                "totalProducts": "1", "currency": "USD", "shippingMethod": "UPS Ground", "storeName": store,
                "logoUrl": "", "orderUrl": f"https://{external}/orders/{order_l[i]}", "state": str(state[i]),
                "externalCreatedDate": cdate[i], "externalUpdatedDate": cdate[i],
                "abandonedDate": cdate[i] if state[i] == 2 else None, "createdDate": cdate[i], "updatedDate": cdate[i],
                "links": self.link_objects(w, [b.sids[i]])[0], "id": b.sids[i], "connection": str(conn[i]),
                "order": str(order_l[i]),
            })
        return out
