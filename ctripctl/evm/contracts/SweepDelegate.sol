// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// ctripctl's EIP-7702 sweep delegate: lets ONE sponsor move a deposit's token balance to
/// ONE treasury, for many deposits in one transaction, without the deposits holding gas.
///
/// Security argument (read it with the code below, which is all there is):
/// 1. Who: `sweep` runs only when the caller is SPONSOR (the gas tank) or this deployed
///    contract itself (which only `sweepMany` calls, and `sweepMany` only for SPONSOR).
///    Nobody else can make a delegated deposit move anything.
/// 2. Where: tokens go to TREASURY only. SPONSOR and TREASURY are immutables: they are part
///    of the code every delegated deposit runs, fixed when ctripctl deploys it, and no call
///    argument names a recipient. A new treasury means a new delegate, not a new argument.
/// 3. What: only `transfer(TREASURY, balanceOf(this))` of the token named. No ETH leaves,
///    no approval is granted, no storage is written (delegated EOAs share their storage
///    with whatever code they point at later), no call forwards arbitrary data.
/// 4. Receiving: `receive` and `fallback` accept plain ETH and any other call, so a
///    delegated deposit still takes payments (ETH from wallets and contracts; ERC-20
///    transfers do not call the recipient at all).
/// 5. The deposit's own key still controls the address (7702 keeps the EOA), and the
///    delegation is kept after a sweep: clearing it costs another authorization, and with
///    1-3 a lingering delegation can do nothing but pay the treasury on the sponsor's word.
/// 6. One failing token does not undo the others: `sweepMany` calls each deposit on its
///    own and reports a failure as an event; ctripctl reads what moved from the token's
///    Transfer logs in the receipt.
contract SweepDelegate {
    address public immutable SPONSOR;
    address public immutable TREASURY;
    address private immutable SELF;

    event SweepFailed(address indexed deposit, address indexed token);

    constructor(address sponsor, address treasury) {
        SPONSOR = sponsor;
        TREASURY = treasury;
        SELF = address(this);
    }

    /// Runs in a deposit's context (through its delegation): pay its whole token balance
    /// to TREASURY.
    function sweep(address token) external returns (uint256 amount) {
        require(msg.sender == SPONSOR || msg.sender == SELF, "not the sponsor");
        amount = IERC20(token).balanceOf(address(this));
        if (amount > 0) {
            (bool ok, bytes memory ret) = token.call(abi.encodeCall(IERC20.transfer, (TREASURY, amount)));
            require(ok && (ret.length == 0 || abi.decode(ret, (bool))), "transfer failed");
        }
    }

    /// Runs at the deployed address, sent by SPONSOR: sweep each deposit's token.
    function sweepMany(address[] calldata deposits, address[] calldata tokens) external {
        require(msg.sender == SPONSOR, "not the sponsor");
        require(deposits.length == tokens.length, "length mismatch");
        for (uint256 i = 0; i < deposits.length; i++) {
            (bool ok, bytes memory ret) = deposits[i].call(abi.encodeCall(this.sweep, (tokens[i])));
            if (!ok || ret.length != 32) emit SweepFailed(deposits[i], tokens[i]);
        }
    }

    receive() external payable {}

    fallback() external payable {}
}

interface IERC20 {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
}
